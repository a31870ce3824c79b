/* conf_text.h - for unit tests: load a ferry.conf written from a string
 * (through a temporary file, removed after), as conf_load reads files.
 * Needs cmocka.h, stdio.h, stdlib.h and unistd.h included before it. */
#ifndef FERRY_TESTS_CONF_TEXT_H
#define FERRY_TESTS_CONF_TEXT_H

#include "conf/conf.h"

static inline struct conf *
conf_text(const char *text, char *err, size_t errlen)
{
	char path[] = "/tmp/ferry-test-conf-XXXXXX";
	int fd = mkstemp(path);
	FILE *f;
	struct conf *c;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	c = conf_load(path, err, errlen);
	unlink(path);
	return c;
}

#endif
