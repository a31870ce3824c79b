/*
 * test_auth_users.c - the users file: parsing, permissions, lookups,
 * password checks and the atomic edits ferryctl makes.
 * argon2id costs tens of milliseconds per hash, so the whole file does
 * sixteen of them; parsing tests use a fixed, precomputed hash.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/auth_users.h"

/* crypto_pwhash_str("secret"), argon2id, INTERACTIVE limits. */
#define HASH_SECRET "$argon2id$v=19$m=65536,t=2,p=1$5llTdurd/pGaZjCBBqR6XQ$" \
	"JVpKa7J0iXwdsH2eaBGaV2eiNmrZBoGAwIaBk+hBkhU"

struct fx {
	char dir[64];
	char path[128];
	char err[512];
};

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/ferry-auth-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/users", fx->dir);
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;
	char p[512];
	struct dirent *d;
	DIR *dir = opendir(fx->dir);

	while (dir != NULL && (d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", fx->dir, d->d_name);
		unlink(p);
	}
	if (dir != NULL)
		closedir(dir);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static void
file_put(const char *path, const char *text, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void
file_puts(const char *path, const char *text)
{
	file_put(path, text, strlen(text), 0640);
}

/* The whole file as a string (caller frees). */
static char *
file_get(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s = calloc(1, 65536);
	size_t n;

	assert_non_null(f);
	assert_non_null(s);
	n = fread(s, 1, 65535, f);
	s[n] = '\0';
	fclose(f);
	return s;
}

/* Load must fail with a message starting "PATH:LINE: " and containing what. */
static void
load_fails_at(struct fx *fx, size_t line, const char *what)
{
	char want[256];

	assert_null(auth_users_load(fx->path, fx->err, sizeof(fx->err)));
	snprintf(want, sizeof(want), "%s:%zu: ", fx->path, line);
	assert_memory_equal(fx->err, want, strlen(want));
	assert_non_null(strstr(fx->err, what));
}

static void
test_name_valid(void **state)
{
	char longname[AUTH_USER_MAX + 2];

	(void)state;
	assert_true(auth_user_name_valid("alice", 5));
	assert_true(auth_user_name_valid("alice@example.com", 17));
	assert_true(auth_user_name_valid("jos\xc3\xa9@example.com", 17));
	assert_true(auth_user_name_valid("a#b", 3));
	assert_false(auth_user_name_valid("", 0));
	assert_false(auth_user_name_valid("a:b", 3));
	assert_false(auth_user_name_valid("a b", 3));
	assert_false(auth_user_name_valid("a\tb", 3));
	assert_false(auth_user_name_valid("a\r\nb", 4));
	assert_false(auth_user_name_valid("a\0b", 3));
	assert_false(auth_user_name_valid("a\x7f", 2));
	assert_false(auth_user_name_valid("#alice", 6));
	assert_false(auth_user_name_valid("\xff", 1));
	assert_false(auth_user_name_valid("\xc0\x80", 2));          /* overlong NUL */
	assert_false(auth_user_name_valid("\xc2\x85", 2));          /* C1 NEL */
	assert_false(auth_user_name_valid("\xed\xa0\x80", 3));      /* surrogate */
	assert_false(auth_user_name_valid("jos\xc3", 4));           /* cut short */
	memset(longname, 'a', sizeof(longname));
	assert_true(auth_user_name_valid(longname, AUTH_USER_MAX));
	assert_false(auth_user_name_valid(longname, AUTH_USER_MAX + 1));
}

static void
test_load_missing_is_empty(void **state)
{
	struct fx *fx = *state;
	struct auth_users *u = auth_users_load(fx->path, fx->err, sizeof(fx->err));

	assert_non_null(u);
	assert_int_equal(auth_users_count(u), 0);
	assert_false(auth_users_exists(u, "alice"));
	assert_null(auth_users_name(u, 0));
	auth_users_free(u);
}

static void
test_load_comments_and_blanks(void **state)
{
	struct fx *fx = *state;
	struct auth_users *u;

	file_puts(fx->path,
	    "# ferry users\n"
	    "\n"
	    "carol@example.com:" HASH_SECRET "\n"
	    "   # indented comment\n"
	    "\t\n"
	    "alice:" HASH_SECRET "\r\n"
	    "bob:" HASH_SECRET "  \n"
	    "jos\xc3\xa9:" HASH_SECRET);          /* no final newline */
	u = auth_users_load(fx->path, fx->err, sizeof(fx->err));
	assert_non_null(u);
	assert_int_equal(auth_users_count(u), 4);
	assert_string_equal(auth_users_name(u, 0), "carol@example.com");
	assert_string_equal(auth_users_name(u, 1), "alice");
	assert_string_equal(auth_users_name(u, 2), "bob");
	assert_string_equal(auth_users_name(u, 3), "jos\xc3\xa9");
	assert_true(auth_users_exists(u, "alice"));
	assert_true(auth_users_exists(u, "jos\xc3\xa9"));
	assert_false(auth_users_exists(u, "Alice"));     /* case-sensitive */
	assert_false(auth_users_exists(u, "# ferry users"));
	auth_users_free(u);
}

static void
test_load_bad_lines(void **state)
{
	struct fx *fx = *state;
	static const char nul_line[] = "alice:" HASH_SECRET "\nb\0b:" HASH_SECRET "\n";

	file_puts(fx->path, "# c\nalice\n");
	load_fails_at(fx, 2, "expected NAME:HASH");
	file_puts(fx->path, "a b:" HASH_SECRET "\n");
	load_fails_at(fx, 1, "invalid user name");
	file_puts(fx->path, " alice:" HASH_SECRET "\n");
	load_fails_at(fx, 1, "invalid user name");
	file_puts(fx->path, "alice:\n");
	load_fails_at(fx, 1, "invalid password hash");
	file_puts(fx->path, "alice:secret\n");
	load_fails_at(fx, 1, "invalid password hash");
	file_puts(fx->path, "alice:$argon2id$v=19$m=65536,t=2,p=1$5llTdurd\n");
	load_fails_at(fx, 1, "invalid password hash");
	file_puts(fx->path, "alice:$2b$10$abcdefghijklmnopqrstuv\n");   /* bcrypt */
	load_fails_at(fx, 1, "invalid password hash");
	file_puts(fx->path, "alice:" HASH_SECRET " x\n");
	load_fails_at(fx, 1, "invalid password hash");
	file_puts(fx->path, "\n\nbob:" HASH_SECRET "\nalice:" HASH_SECRET "\nbob:" HASH_SECRET "\n");
	load_fails_at(fx, 5, "user bob already on line 3");
	file_put(fx->path, nul_line, sizeof(nul_line) - 1, 0640);
	load_fails_at(fx, 2, "invalid user name");
}

static void
test_load_permissions(void **state)
{
	struct fx *fx = *state;
	static const mode_t refused[] = { 0644, 0660, 0604, 0601, 0602, 0620 };
	static const mode_t allowed[] = { 0600, 0640, 0400, 0440 };
	struct auth_users *u;
	const char *text = "alice:" HASH_SECRET "\n";
	char want[256];

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		file_put(fx->path, text, strlen(text), refused[i]);
		assert_null(auth_users_load(fx->path, fx->err, sizeof(fx->err)));
		snprintf(want, sizeof(want), "%s: permissions %04o too open (group/world)",
		    fx->path, (unsigned)refused[i]);
		assert_string_equal(fx->err, want);
	}
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		file_put(fx->path, text, strlen(text), allowed[i]);
		u = auth_users_load(fx->path, fx->err, sizeof(fx->err));
		assert_non_null(u);
		auth_users_free(u);
	}
	assert_null(auth_users_load(fx->dir, fx->err, sizeof(fx->err)));
	assert_non_null(strstr(fx->err, "not a regular file"));
}

/* Seven argon2id runs: every call below, plus making the dummy hash once. */
static void
test_verify(void **state)
{
	struct fx *fx = *state;
	struct auth_users *u;

	file_puts(fx->path, "alice:" HASH_SECRET "\n");
	u = auth_users_load(fx->path, fx->err, sizeof(fx->err));
	assert_non_null(u);
	assert_true(auth_users_verify(u, "alice", "secret", 6));
	assert_false(auth_users_verify(u, "alice", "Secret", 6));
	assert_true(auth_users_verify(u, "alice", "secretXYZ", 6));   /* length, not NUL */
	assert_false(auth_users_verify(u, "mallory", "secret", 6));
	/* Unknown in another way: still the dummy's cost, still no. */
	assert_false(auth_users_verify(u, NULL, "secret", 6));
	assert_false(auth_users_verify(NULL, "alice", "secret", 6));
	auth_users_free(u);
}

/* add, passwd, del through the file; comments survive byte for byte. */
static void
test_edit_round_trip(void **state)
{
	struct fx *fx = *state;
	struct auth_users *u;
	struct stat st;
	char *text;

	file_puts(fx->path, "# managed by ferryctl\nalice:" HASH_SECRET);
	assert_int_equal(auth_users_file_add(fx->path, "bob@example.com", "pw-one", fx->err, sizeof(fx->err)), 0);
	text = file_get(fx->path);
	assert_memory_equal(text, "# managed by ferryctl\nalice:" HASH_SECRET "\nbob@example.com:$argon2id$",
	    strlen("# managed by ferryctl\nalice:" HASH_SECRET "\nbob@example.com:$argon2id$"));
	free(text);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);

	assert_int_equal(auth_users_file_add(fx->path, "bob@example.com", "x", fx->err, sizeof(fx->err)), -1);
	assert_non_null(strstr(fx->err, "already exists"));
	assert_int_equal(auth_users_file_passwd(fx->path, "carol", "x", fx->err, sizeof(fx->err)), -1);
	assert_non_null(strstr(fx->err, "no user carol"));
	assert_int_equal(auth_users_file_add(fx->path, "a:b", "x", fx->err, sizeof(fx->err)), -1);
	assert_non_null(strstr(fx->err, "invalid user name"));
	assert_int_equal(auth_users_file_add(fx->path, "dave", "", fx->err, sizeof(fx->err)), -1);
	assert_non_null(strstr(fx->err, "password"));

	assert_int_equal(auth_users_file_passwd(fx->path, "bob@example.com", "pw-two", fx->err, sizeof(fx->err)), 0);
	u = auth_users_load(fx->path, fx->err, sizeof(fx->err));
	assert_non_null(u);
	assert_int_equal(auth_users_count(u), 2);
	assert_string_equal(auth_users_name(u, 1), "bob@example.com");
	assert_true(auth_users_verify(u, "bob@example.com", "pw-two", 6));
	assert_false(auth_users_verify(u, "bob@example.com", "pw-one", 6));
	auth_users_free(u);

	assert_int_equal(auth_users_file_del(fx->path, "alice", fx->err, sizeof(fx->err)), 0);
	assert_int_equal(auth_users_file_del(fx->path, "alice", fx->err, sizeof(fx->err)), -1);
	assert_int_equal(auth_users_file_del(fx->path, "bob@example.com", fx->err, sizeof(fx->err)), 0);
	text = file_get(fx->path);
	assert_string_equal(text, "# managed by ferryctl\n");
	free(text);
}

static void
test_edit_refuses_bad_file(void **state)
{
	struct fx *fx = *state;
	const char *bad = "alice:" HASH_SECRET "\nthis is not a user line\n";
	char *text;

	file_puts(fx->path, bad);
	assert_int_equal(auth_users_file_del(fx->path, "alice", fx->err, sizeof(fx->err)), -1);
	assert_non_null(strstr(fx->err, ":2: "));
	text = file_get(fx->path);
	assert_string_equal(text, bad);
	free(text);
	file_put(fx->path, "", 0, 0644);
	assert_int_equal(auth_users_file_del(fx->path, "alice", fx->err, sizeof(fx->err)), -1);
	assert_non_null(strstr(fx->err, "too open"));
}

static void
test_edit_keeps_stricter_mode(void **state)
{
	struct fx *fx = *state;
	struct stat st;

	file_put(fx->path, "", 0, 0600);
	assert_int_equal(auth_users_file_add(fx->path, "alice", "pw", fx->err, sizeof(fx->err)), 0);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

/* Four writers at once: the lock keeps every one of their users. */
static void
test_edit_concurrent(void **state)
{
	struct fx *fx = *state;
	struct auth_users *u;
	char name[16];
	pid_t pid[4];
	int status;

	for (int i = 0; i < 4; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0) {
			snprintf(name, sizeof(name), "user%d", i);
			_exit(auth_users_file_add(fx->path, name, "pw", fx->err, sizeof(fx->err)) == 0 ? 0 : 1);
		}
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	u = auth_users_load(fx->path, fx->err, sizeof(fx->err));
	assert_non_null(u);
	assert_int_equal(auth_users_count(u), 4);
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		assert_true(auth_users_exists(u, name));
	}
	auth_users_free(u);
}

/* 100k users: a sorted table, not a quadratic scan. */
static void
test_load_large(void **state)
{
	struct fx *fx = *state;
	enum { N = 100000 };
	size_t linelen = strlen("u000000@example.com:" HASH_SECRET "\n");
	char *text = malloc(N * linelen + 1), *p = text, name[32];
	struct timespec t0, t1;
	struct auth_users *u;
	double secs;

	assert_non_null(text);
	for (int i = N - 1; i >= 0; i--)
		p += sprintf(p, "u%06d@example.com:%s\n", i, HASH_SECRET);
	file_put(fx->path, text, (size_t)(p - text), 0640);
	free(text);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	u = auth_users_load(fx->path, fx->err, sizeof(fx->err));
	assert_non_null(u);
	for (int i = 0; i < N; i += 997) {
		snprintf(name, sizeof(name), "u%06d@example.com", i);
		assert_true(auth_users_exists(u, name));
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_int_equal(auth_users_count(u), N);
	assert_string_equal(auth_users_name(u, 0), "u099999@example.com");
	assert_false(auth_users_exists(u, "u100000@example.com"));
	assert_true(secs < 5.0);   /* generous for sanitizers; linear is far below */
	auth_users_free(u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_valid),
		cmocka_unit_test_setup_teardown(test_load_missing_is_empty, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_load_comments_and_blanks, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_load_bad_lines, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_load_permissions, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_verify, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_edit_round_trip, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_edit_refuses_bad_file, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_edit_keeps_stricter_mode, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_edit_concurrent, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_load_large, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
