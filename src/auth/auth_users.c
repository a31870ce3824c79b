/*
 * auth_users.c - the submission users table: load the users file into a
 * table sorted for lookup, and check passwords against it (util/pwhash.c).
 * Rewriting the file is auth_users_edit.c's job.
 * STANDARDS: RFC 3629 (UTF-8) for user names.
 * SECURITY: the file is written by the administrator (through ferryctl) but
 * still parsed with explicit lengths and a size cap; every name and hash is
 * validated, and a file its group could write, or anybody else could read,
 * is refused. Unknown users cost one argon2id verification too, so timing
 * does not reveal which users exist.
 */
#include "auth/auth_users_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/pwhash.h"
#include "util/utf8.h"

/* 100k users of the longest names and hashes fit about 36 MiB. */
#define AUTH_FILE_MAX   (64u * 1024 * 1024)
/* Mode bits that refuse a file: group write, anything for others.
 * Group read stays allowed so the ferry group can read a root-owned file. */
#define AUTH_MODE_REFUSE 0027

void
auth_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- names ---- */

bool
auth_user_name_valid(const char *name, size_t len)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t i = 0, n;

	/* A leading '#' would read back as a comment line. */
	if (name == NULL || len == 0 || len > AUTH_USER_MAX || s[0] == '#')
		return false;
	while (i < len) {
		if (s[i] >= 0x80) {
			if ((n = utf8_len(name + i, len - i)) == 0)
				return false;
			i += n;
			continue;
		}
		if (s[i] <= ' ' || s[i] == 0x7f || s[i] == ':')
			return false;
		i++;
	}
	return true;
}

/* ---- reading the file ---- */

/* Refuse what ferryd must not trust: not a regular file, too open, too big. */
static int
auth_file_check(const char *path, const struct stat *st, char *err, size_t errlen)
{
	if (!S_ISREG(st->st_mode)) {
		auth_err(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if ((st->st_mode & AUTH_MODE_REFUSE) != 0) {
		auth_err(err, errlen, "%s: permissions %04o too open (group/world)",
		    path, (unsigned)(st->st_mode & 07777));
		return -1;
	}
	if (st->st_size > (off_t)AUTH_FILE_MAX) {
		auth_err(err, errlen, "%s: larger than %u MiB", path, AUTH_FILE_MAX >> 20);
		return -1;
	}
	return 0;
}

/* Read all of fd; the size from fstat is only a first guess. Room for the
 * spare NUL and one more octet, so an unchanged file reads its EOF without
 * growing the buffer. */
static int
auth_fd_slurp(int fd, const char *path, struct auth_file *f, char *err, size_t errlen)
{
	size_t cap = (size_t)f->st.st_size + 2;
	ssize_t r;
	char *p;

	if ((f->text = malloc(cap)) == NULL)
		goto nomem;
	for (;;) {
		if (f->len + 1 == cap) {
			if (cap > AUTH_FILE_MAX) {
				auth_err(err, errlen, "%s: larger than %u MiB", path, AUTH_FILE_MAX >> 20);
				return -1;
			}
			if ((p = realloc(f->text, cap * 2)) == NULL)
				goto nomem;
			f->text = p;
			cap *= 2;
		}
		r = read(fd, f->text + f->len, cap - 1 - f->len);
		if (r == 0)
			return 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			auth_err(err, errlen, "%s: %s", path, strerror(errno));
			return -1;
		}
		f->len += (size_t)r;
	}
nomem:
	auth_err(err, errlen, "%s: out of memory", path);
	return -1;
}

int
auth_file_read(const char *path, struct auth_file *f, char *err, size_t errlen)
{
	int fd, rc = -1;

	memset(f, 0, sizeof(*f));
	/* O_NONBLOCK: a FIFO planted at path must not hang the daemon. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 && errno == ENOENT) {
		if ((f->text = malloc(1)) != NULL)
			return 0;
		auth_err(err, errlen, "%s: out of memory", path);
		return -1;
	}
	if (fd < 0) {
		auth_err(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	f->exists = true;
	if (fstat(fd, &f->st) < 0)
		auth_err(err, errlen, "%s: %s", path, strerror(errno));
	else if (auth_file_check(path, &f->st, err, errlen) == 0)
		rc = auth_fd_slurp(fd, path, f, err, errlen);
	close(fd);
	return rc;
}

/* ---- parsing ---- */

static int
auth_users_push(struct auth_users *u, const struct auth_user *e)
{
	struct auth_user *v;
	size_t cap;

	if (u->n == u->cap) {
		cap = u->cap ? u->cap * 2 : 64;
		if ((v = realloc(u->v, cap * sizeof(*v))) == NULL)
			return -1;
		u->v = v;
		u->cap = cap;
	}
	u->v[u->n++] = *e;
	return 0;
}

/* One line, text[off..end) without its '\n'. Cuts name and hash into
 * strings in place: text[end] is either the '\n' or the spare octet. */
static int
auth_line_parse(struct auth_users *u, const char *path, size_t line, size_t off,
    size_t end, char *err, size_t errlen)
{
	char *s = u->text;
	struct auth_user e = { .line = line, .off = off };
	size_t i = off;
	char *colon;

	while (end > off && (s[end - 1] == ' ' || s[end - 1] == '\t' || s[end - 1] == '\r'))
		end--;
	while (i < end && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i == end || s[i] == '#')
		return 0;
	colon = memchr(s + off, ':', end - off);
	if (colon == NULL) {
		auth_err(err, errlen, "%s:%zu: expected NAME:HASH", path, line);
		return -1;
	}
	if (!auth_user_name_valid(s + off, (size_t)(colon - (s + off)))) {
		auth_err(err, errlen, "%s:%zu: invalid user name", path, line);
		return -1;
	}
	*colon = '\0';
	s[end] = '\0';
	if (!pwhash_valid(colon + 1, (size_t)(s + end - (colon + 1)))) {
		auth_err(err, errlen, "%s:%zu: invalid password hash for %s", path, line, s + off);
		return -1;
	}
	e.name = s + off;
	e.hash = colon + 1;
	if (auth_users_push(u, &e) < 0) {
		auth_err(err, errlen, "%s: out of memory", path);
		return -1;
	}
	return 0;
}

static int
auth_user_cmp(const void *a, const void *b)
{
	const struct auth_user *x = *(struct auth_user *const *)a;
	const struct auth_user *y = *(struct auth_user *const *)b;

	return strcmp(x->name, y->name);
}

/* Sort for lookup; a name twice is an error naming the later line. */
static int
auth_users_index(struct auth_users *u, const char *path, char *err, size_t errlen)
{
	const struct auth_user *a, *b;

	if ((u->byname = calloc(u->n ? u->n : 1, sizeof(*u->byname))) == NULL) {
		auth_err(err, errlen, "%s: out of memory", path);
		return -1;
	}
	for (size_t i = 0; i < u->n; i++)
		u->byname[i] = &u->v[i];
	qsort(u->byname, u->n, sizeof(*u->byname), auth_user_cmp);
	for (size_t i = 1; i < u->n; i++) {
		a = u->byname[i - 1];
		b = u->byname[i];
		if (strcmp(a->name, b->name) == 0) {
			auth_err(err, errlen, "%s:%zu: user %s already on line %zu", path,
			    a->line > b->line ? a->line : b->line, a->name,
			    a->line < b->line ? a->line : b->line);
			return -1;
		}
	}
	return 0;
}

struct auth_users *
auth_users_parse(const char *path, char *text, size_t len, char *err, size_t errlen)
{
	struct auth_users *u;
	size_t off = 0, line = 0, end;
	char *nl;

	if ((u = calloc(1, sizeof(*u))) == NULL) {
		free(text);
		auth_err(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	u->text = text;
	while (off < len) {
		nl = memchr(text + off, '\n', len - off);
		end = nl != NULL ? (size_t)(nl - text) : len;
		if (auth_line_parse(u, path, ++line, off, end, err, errlen) < 0)
			goto fail;
		off = end + 1;
	}
	if (auth_users_index(u, path, err, errlen) < 0)
		goto fail;
	return u;
fail:
	auth_users_free(u);
	return NULL;
}

struct auth_users *
auth_users_load(const char *path, char *err, size_t errlen)
{
	struct auth_file f;

	if (!pwhash_init()) {
		auth_err(err, errlen, "%s: libsodium failed to initialise", path);
		return NULL;
	}
	if (auth_file_read(path, &f, err, errlen) < 0) {
		free(f.text);
		return NULL;
	}
	return auth_users_parse(path, f.text, f.len, err, errlen);
}

void
auth_users_free(struct auth_users *u)
{
	if (u == NULL)
		return;
	free(u->byname);
	free(u->v);
	free(u->text);
	free(u);
}

/* ---- lookup and verification ---- */

static int
auth_user_key_cmp(const void *key, const void *elem)
{
	return strcmp(key, (*(struct auth_user *const *)elem)->name);
}

const struct auth_user *
auth_users_find(const struct auth_users *u, const char *name)
{
	struct auth_user **e;

	if (u == NULL || name == NULL || u->n == 0)
		return NULL;
	e = bsearch(name, u->byname, u->n, sizeof(*u->byname), auth_user_key_cmp);
	return e != NULL ? *e : NULL;
}

size_t
auth_users_count(const struct auth_users *u)
{
	return u != NULL ? u->n : 0;
}

const char *
auth_users_name(const struct auth_users *u, size_t i)
{
	return u != NULL && i < u->n ? u->v[i].name : NULL;
}

bool
auth_users_exists(const struct auth_users *u, const char *name)
{
	return auth_users_find(u, name) != NULL;
}

bool
auth_users_verify(const struct auth_users *u, const char *name,
    const char *pass, size_t passlen)
{
	const struct auth_user *e = auth_users_find(u, name);

	if (pass == NULL || passlen > AUTH_PASS_MAX) {
		/* Still spend the time: the answer is no either way. */
		e = NULL;
		pass = "";
		passlen = 0;
	}
	return pwhash_verify(e != NULL ? e->hash : NULL, pass, passlen);
}
