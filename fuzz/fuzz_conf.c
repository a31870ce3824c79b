/*
 * fuzz_conf.c - libFuzzer target for the ferry.conf reader and option table
 * (src/conf/): the input is a whole configuration file. Invariants: a file
 * is either loaded or refused with "FILE:LINE: cause" (or "FILE: cause"),
 * never a crash or a leak; what loads passes conf_check or is refused too.
 * dkim_sign lines are skipped: they open the key file they name.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf/conf.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], err[1024];
	struct conf *c;
	int fd;

	if (memmem(data, size, "dkim_sign", 9) != NULL)
		return 0;
	fd = memfd_create("ferry.conf", MFD_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(write(fd, data, size) == (ssize_t)size);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	err[0] = '\0';
	c = conf_load(path, err, sizeof(err));
	if (c == NULL) {
		/* "PATH: cause" or "PATH:LINE: cause", LINE from 1 */
		CHECK(strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':');
		CHECK(err[strlen(path) + 1] == ' ' || (err[strlen(path) + 1] >= '1' &&
		    err[strlen(path) + 1] <= '9'));
	} else {
		(void)conf_check(c, err, sizeof(err));
		conf_free(c);
	}
	close(fd);
	return 0;
}
