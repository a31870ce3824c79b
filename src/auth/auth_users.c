/*
 * auth_users.c - the submission users file: load it into a table sorted for
 * lookup, check passwords against it with argon2id (libsodium), and edit it
 * atomically for ferryctl.
 * STANDARDS: RFC 9106 (Argon2) through libsodium's crypto_pwhash_str;
 * RFC 3629 (UTF-8) for user names.
 * SECURITY: the file is written by the administrator (through ferryctl) but
 * still parsed with explicit lengths and a size cap; every name and hash is
 * validated, and a file its group could write, or anybody else could read,
 * is refused. Unknown users cost one argon2id verification too (a
 * dummy hash), so timing does not reveal which users exist. Uses nothing
 * from util/: ferryctl links this file alone.
 */
#include "auth/auth_users.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* 100k users of the longest names and hashes fit about 36 MiB. */
#define AUTH_FILE_MAX   (64u * 1024 * 1024)
/* Mode bits that refuse a file: group write, anything for others.
 * Group read stays allowed so the ferry group can read a root-owned file. */
#define AUTH_MODE_REFUSE 0027
#define AUTH_MODE_NEW    0640
/* "\n" (when the old last line had none) + name + ':' + hash + "\n". */
#define AUTH_LINE_MAX   (1 + AUTH_USER_MAX + 1 + crypto_pwhash_STRBYTES + 1)

struct auth_user {
	const char *name;     /* into auth_users.text, NUL-terminated */
	const char *hash;     /* ditto */
	size_t      line;     /* 1-based, for messages */
	size_t      off;      /* where the line starts in the file, for edits */
};

struct auth_users {
	char              *text;     /* the file, cut into strings in place */
	struct auth_user  *v;        /* file order */
	struct auth_user **byname;   /* sorted by name, for bsearch */
	size_t             n, cap;
};

/* The file as read from disk, for loading and for rewriting. */
struct auth_file {
	char        *text;    /* len octets plus one spare for a final NUL */
	size_t       len;
	bool         exists;
	struct stat  st;      /* valid when exists */
};

enum auth_edit { AUTH_EDIT_ADD, AUTH_EDIT_PASSWD, AUTH_EDIT_DEL };

static void
auth_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* sodium_init is idempotent and thread-safe; it fails only when the system
 * has no usable random source. */
static bool
auth_sodium_ready(void)
{
	return sodium_init() >= 0;
}

/* ---- names and hashes ---- */

/* Length of the UTF-8 sequence at s (n octets available), or 0 when it is
 * malformed, overlong, a surrogate, above U+10FFFF or a C1 control. */
static size_t
auth_utf8_len(const unsigned char *s, size_t n)
{
	static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
	uint32_t cp;
	size_t len;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
	    (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return len;
}

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
			if ((n = auth_utf8_len(s + i, len - i)) == 0)
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

/* An encoded argon2id (or argon2i, which libsodium also verifies) hash.
 * hash[len] must be NUL. needs_rehash decodes the whole string without
 * hashing, so a truncated or mangled hash is caught at load, not at login. */
static bool
auth_hash_valid(const char *hash, size_t len)
{
	if (len == 0 || len >= crypto_pwhash_STRBYTES)
		return false;
	for (size_t i = 0; i < len; i++)
		if (hash[i] <= ' ' || hash[i] > '~' || hash[i] == ':')
			return false;
	return crypto_pwhash_str_needs_rehash(hash, crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) >= 0;
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

/* Read path into f. A missing file reads as empty. On error f->text may be
 * set; the caller frees it either way. */
static int
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
	if (!auth_hash_valid(colon + 1, (size_t)(s + end - (colon + 1)))) {
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

/* Parse text (len octets plus a spare one). Takes ownership of text. */
static struct auth_users *
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

	if (!auth_sodium_ready()) {
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

static const struct auth_user *
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

static char auth_dummy[crypto_pwhash_STRBYTES];
static pthread_once_t auth_dummy_once = PTHREAD_ONCE_INIT;

/* A hash of a random password nobody knows, with the parameters ferryctl
 * uses. If hashing fails (no memory) it stays empty and unknown users are
 * answered fast: a timing hint, never a wrong answer. */
static void
auth_dummy_init(void)
{
	unsigned char pw[32];

	randombytes_buf(pw, sizeof(pw));
	if (crypto_pwhash_str(auth_dummy, (const char *)pw, sizeof(pw),
	    crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		auth_dummy[0] = '\0';
	sodium_memzero(pw, sizeof(pw));
}

bool
auth_pwhash_verify(const char *hash, const char *pass, size_t passlen)
{
	bool spent;

	if (hash == NULL) {
		/* The answer is no; the verification only spends the time. */
		pthread_once(&auth_dummy_once, auth_dummy_init);
		spent = auth_dummy[0] != '\0' && crypto_pwhash_str_verify(auth_dummy, pass, passlen) == 0;
		(void)spent;
		return false;
	}
	return hash[0] != '\0' && crypto_pwhash_str_verify(hash, pass, passlen) == 0;
}

bool
auth_users_verify(const struct auth_users *u, const char *name,
    const char *pass, size_t passlen)
{
	const struct auth_user *e;

	if (!auth_sodium_ready())
		return false;
	e = auth_users_find(u, name);
	if (pass == NULL || passlen > AUTH_PASS_MAX) {
		/* Still spend the time: the answer is no either way. */
		e = NULL;
		pass = "";
		passlen = 0;
	}
	return auth_pwhash_verify(e != NULL ? e->hash : NULL, pass, passlen);
}

/* ---- editing ---- */

/* Serialise ferryctl runs. Not the users file itself: rename replaces its
 * inode, so a second run would lock the new file while the first still
 * holds the old one. The returned fd holds the lock until closed. */
static int
auth_file_lock(const char *path, char *err, size_t errlen)
{
	char lock[4096];
	int fd, n;

	n = snprintf(lock, sizeof(lock), "%s.lock", path);
	if (n < 0 || (size_t)n >= sizeof(lock)) {
		auth_err(err, errlen, "%s: path too long", path);
		return -1;
	}
	if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600)) < 0) {
		auth_err(err, errlen, "%s: cannot create the lock file %s: %s", path, lock,
		    strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			auth_err(err, errlen, "%s: cannot lock: %s", lock, strerror(errno));
			close(fd);
			return -1;
		}
	}
	return fd;
}

/* The directory holding path, for the directory fsync and its group. */
static void
auth_path_dir(const char *path, char *dir, size_t dirlen)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(dir, dirlen, ".");
	else if (slash == path)
		snprintf(dir, dirlen, "/");
	else
		snprintf(dir, dirlen, "%.*s", (int)(slash - path), path);
}

/* Give the new file what ferryd needs to keep reading it: the old file's
 * owner and group, or for a first file the directory's group (ferryd owns
 * its spool), so `sudo ferryctl user add` does not make a root-only file. */
static int
auth_file_owner_set(int fd, const char *path, const struct auth_file *f,
    const char *dir, char *err, size_t errlen)
{
	struct stat now, ds;

	if (fstat(fd, &now) < 0) {
		auth_err(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!f->exists) {
		if (stat(dir, &ds) == 0 && ds.st_gid != now.st_gid && fchown(fd, (uid_t)-1, ds.st_gid) < 0) {
			/* Best effort: not a member of that group; 0640 still works
			 * when ferryd runs as this user. */
		}
		return 0;
	}
	if (now.st_uid == f->st.st_uid && now.st_gid == f->st.st_gid)
		return 0;
	if (fchown(fd, f->st.st_uid, f->st.st_gid) < 0) {
		auth_err(err, errlen, "%s: cannot keep its owner %u and group %u: %s", path,
		    (unsigned)f->st.st_uid, (unsigned)f->st.st_gid, strerror(errno));
		return -1;
	}
	return 0;
}

static int
auth_write_all(int fd, const char *p, size_t len)
{
	ssize_t r;

	while (len > 0) {
		r = write(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/* Write the old text with [cut0, cut1) replaced by ins into tmp's fd. */
static int
auth_tmp_fill(int fd, const struct auth_file *f, size_t cut0, size_t cut1,
    const char *ins, size_t inslen)
{
	mode_t mode = f->exists ? (f->st.st_mode & AUTH_MODE_NEW) : AUTH_MODE_NEW;

	if (fchmod(fd, mode) < 0 ||
	    auth_write_all(fd, f->text, cut0) < 0 ||
	    auth_write_all(fd, ins, inslen) < 0 ||
	    auth_write_all(fd, f->text + cut1, f->len - cut1) < 0 ||
	    fsync(fd) < 0)
		return -1;
	return 0;
}

static int
auth_dir_sync(const char *dir, char *err, size_t errlen)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0) {
		auth_err(err, errlen, "%s: changed, but syncing its directory failed: %s",
		    dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Replace path by a copy of f with [cut0, cut1) replaced by ins: temp file
 * in the same directory, fsync, rename, directory fsync. */
static int
auth_file_replace(const char *path, const struct auth_file *f, size_t cut0,
    size_t cut1, const char *ins, size_t inslen, char *err, size_t errlen)
{
	char tmp[4096], dir[4096];
	int fd, n;

	n = snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		auth_err(err, errlen, "%s: path too long", path);
		return -1;
	}
	auth_path_dir(path, dir, sizeof(dir));
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		auth_err(err, errlen, "%s: cannot create a temporary file: %s", path, strerror(errno));
		return -1;
	}
	if (auth_file_owner_set(fd, tmp, f, dir, err, errlen) < 0)
		goto fail;
	if (auth_tmp_fill(fd, f, cut0, cut1, ins, inslen) < 0) {
		auth_err(err, errlen, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		fd = -1;
		auth_err(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	return auth_dir_sync(dir, err, errlen);
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

/* The line to write for name, preceded by a '\n' when appending to a file
 * whose last line has none. */
static int
auth_line_make(const struct auth_file *f, bool append, const char *name,
    const char *pass, char *line, size_t *linelen, char *err, size_t errlen)
{
	char hash[crypto_pwhash_STRBYTES];
	const char *nl = append && f->len > 0 && f->text[f->len - 1] != '\n' ? "\n" : "";
	int n;

	if (crypto_pwhash_str(hash, pass, strlen(pass), crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
		auth_err(err, errlen, "out of memory hashing the password");
		return -1;
	}
	n = snprintf(line, AUTH_LINE_MAX, "%s%s:%s\n", nl, name, hash);
	if (n < 0 || (size_t)n >= AUTH_LINE_MAX) {
		auth_err(err, errlen, "hash too long");
		return -1;
	}
	*linelen = (size_t)n;
	return 0;
}

static int
auth_edit_args_check(enum auth_edit op, const char *path, const char *name,
    const char *pass, char *err, size_t errlen)
{
	size_t passlen = pass != NULL ? strlen(pass) : 0;

	if (name == NULL || !auth_user_name_valid(name, strlen(name))) {
		auth_err(err, errlen, "invalid user name (1 to %d octets of UTF-8, no spaces, "
		    "':' or control characters, not starting with '#')", AUTH_USER_MAX);
		return -1;
	}
	if (op != AUTH_EDIT_DEL && (passlen == 0 || passlen > AUTH_PASS_MAX)) {
		auth_err(err, errlen, "password must be 1 to %d octets", AUTH_PASS_MAX);
		return -1;
	}
	if (!auth_sodium_ready()) {
		auth_err(err, errlen, "%s: libsodium failed to initialise", path);
		return -1;
	}
	return 0;
}

/* Does the operation make sense for a user that does (not) exist? */
static int
auth_edit_precheck(enum auth_edit op, const char *path, const char *name,
    const struct auth_user *e, char *err, size_t errlen)
{
	if (op == AUTH_EDIT_ADD && e != NULL) {
		auth_err(err, errlen, "%s:%zu: user %s already exists", path, e->line, name);
		return -1;
	}
	if (op != AUTH_EDIT_ADD && e == NULL) {
		auth_err(err, errlen, "%s: no user %s", path, name);
		return -1;
	}
	return 0;
}

/* Parse a copy of f, keeping f->text intact for the rewrite. */
static struct auth_users *
auth_users_parse_copy(const char *path, const struct auth_file *f, char *err, size_t errlen)
{
	char *copy = malloc(f->len + 1);

	if (copy == NULL) {
		auth_err(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	memcpy(copy, f->text, f->len);
	return auth_users_parse(path, copy, f->len, err, errlen);
}

/* The octets of the user's line, '\n' included; empty at the end to add. */
static void
auth_edit_cut(const struct auth_file *f, const struct auth_user *e, size_t *cut0, size_t *cut1)
{
	const char *nl;

	if (e == NULL) {
		*cut0 = *cut1 = f->len;
		return;
	}
	*cut0 = e->off;
	nl = memchr(f->text + e->off, '\n', f->len - e->off);
	*cut1 = nl != NULL ? (size_t)(nl - f->text) + 1 : f->len;
}

/* Lock, re-read and validate the file, change one line, replace the file.
 * Other lines (comments included) are kept byte for byte. A file that does
 * not load is never rewritten: fixing it is the administrator's call. */
static int
auth_users_file_edit(const char *path, enum auth_edit op, const char *name,
    const char *pass, char *err, size_t errlen)
{
	struct auth_file f = { 0 };
	struct auth_users *u = NULL;
	const struct auth_user *e;
	char line[AUTH_LINE_MAX];
	size_t linelen = 0, cut0, cut1;
	int lockfd, rc = -1;

	if (auth_edit_args_check(op, path, name, pass, err, errlen) < 0)
		return -1;
	if ((lockfd = auth_file_lock(path, err, errlen)) < 0)
		return -1;
	if (auth_file_read(path, &f, err, errlen) < 0)
		goto done;
	if ((u = auth_users_parse_copy(path, &f, err, errlen)) == NULL)
		goto done;
	e = auth_users_find(u, name);
	if (auth_edit_precheck(op, path, name, e, err, errlen) < 0)
		goto done;
	if (op != AUTH_EDIT_DEL &&
	    auth_line_make(&f, e == NULL, name, pass, line, &linelen, err, errlen) < 0)
		goto done;
	auth_edit_cut(&f, e, &cut0, &cut1);
	rc = auth_file_replace(path, &f, cut0, cut1, line, linelen, err, errlen);
done:
	auth_users_free(u);
	free(f.text);
	close(lockfd);
	return rc;
}

int
auth_users_file_add(const char *path, const char *name, const char *pass,
    char *err, size_t errlen)
{
	return auth_users_file_edit(path, AUTH_EDIT_ADD, name, pass, err, errlen);
}

int
auth_users_file_passwd(const char *path, const char *name, const char *pass,
    char *err, size_t errlen)
{
	return auth_users_file_edit(path, AUTH_EDIT_PASSWD, name, pass, err, errlen);
}

int
auth_users_file_del(const char *path, const char *name, char *err, size_t errlen)
{
	return auth_users_file_edit(path, AUTH_EDIT_DEL, name, NULL, err, errlen);
}
