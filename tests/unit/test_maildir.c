/* test_maildir.c - local delivery: the address-to-folder mapping cannot be
 * steered out of its domain, a delivery lands in new/ with LF line ends and
 * the trace headers, names are unique, and a missing parent folder is a
 * (temporary) failure instead of lost mail. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "delivery/maildir.h"

static void
test_path_mapping(void **state)
{
	char out[256];
	(void)state;
	assert_int_equal(maildir_path("/r", "Alice@Example.TEST", out, sizeof(out)), 0);
	assert_string_equal(out, "/r/example.test/alice/");
	assert_int_equal(maildir_path("/r", "../../etc/passwd@x.test", out, sizeof(out)), 0);
	assert_string_equal(out, "/r/x.test/%2E.%2F..%2Fetc%2Fpasswd/");
	assert_int_equal(maildir_path("/r", "\"a/b\"@x.test", out, sizeof(out)), 0);
	assert_null(strstr(out + 3, "a/b"));
	assert_int_equal(maildir_path("/r", "nodomain", out, sizeof(out)), -1);
	assert_int_equal(maildir_path("/r", "a@", out, sizeof(out)), -1);
	assert_int_equal(maildir_path("/r", "a@x.test", out, 8), -1);
}

static int
count_new(const char *md, char *first, size_t firstsz)
{
	char path[512];
	struct dirent *e;
	int n = 0;

	snprintf(path, sizeof(path), "%s/new", md);
	DIR *d = opendir(path);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.') {
			if (n++ == 0)
				snprintf(first, firstsz, "%s/%s", path, e->d_name);
		}
	closedir(d);
	return n;
}

static void
test_deliver_reads_back(void **state)
{
	char root[] = "/tmp/ferry-md-XXXXXX", md[256], err[256], first[600], buf[512];
	const char content[] = "XXXXFrom: a@b\r\nSubject: s\r\n\r\nline\r\n.dot\r\n";
	(void)state;
	assert_non_null(mkdtemp(root));
	int fd = open(root, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	close(fd);
	char cpath[300];
	snprintf(cpath, sizeof(cpath), "%s/content", root);
	fd = open(cpath, O_RDWR | O_CREAT, 0600);
	assert_int_equal(write(fd, content, sizeof(content) - 1), (ssize_t)sizeof(content) - 1);
	char mroot[300];
	snprintf(mroot, sizeof(mroot), "%s/mail", root);
	assert_int_equal(maildir_path(mroot, "bob@x.test", md, sizeof(md)), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(maildir_deliver(md, fd, 4, sizeof(content) - 5, "s@y.test", "bob@x.test",
		    err, sizeof(err)), 0);
	assert_int_equal(count_new(md, first, sizeof(first)), 2);
	int in = open(first, O_RDONLY);
	ssize_t n = read(in, buf, sizeof(buf) - 1);
	close(in);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "Return-Path: <s@y.test>\nDelivered-To: bob@x.test\n"
	    "From: a@b\nSubject: s\n\nline\n.dot\n");
	/* a Maildir whose parents are gone: temporary failure, error says where */
	assert_int_equal(maildir_deliver("/nonexistent-ferry/deeper/x.test/bob/", fd, 4, 10, "", "bob@x.test",
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nonexistent-ferry"));
	close(fd);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_mapping),
		cmocka_unit_test(test_deliver_reads_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
