/*
 * auth_users_edit.c - ferryctl's changes to the users file: add a user,
 * change a password, delete a user, each one line, written atomically
 * (temp file in the same directory, fsync, rename, directory fsync) under a
 * lock, every other line kept byte for byte.
 * SECURITY: the new file keeps the old one's owner, group and (stricter)
 * mode; a file that does not load is never rewritten.
 */
#include "auth/auth_users_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "util/fsutil.h"
#include "util/pwhash.h"

#define AUTH_MODE_NEW    0640
/* "\n" (when the old last line had none) + name + ':' + hash + "\n". */
#define AUTH_LINE_MAX   (1 + AUTH_USER_MAX + 1 + PWHASH_STR_MAX + 1)

enum auth_edit { AUTH_EDIT_ADD, AUTH_EDIT_PASSWD, AUTH_EDIT_DEL };

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

/* Write the old text with [cut0, cut1) replaced by ins into tmp's fd. */
static int
auth_tmp_fill(int fd, const struct auth_file *f, size_t cut0, size_t cut1,
    const char *ins, size_t inslen)
{
	mode_t mode = f->exists ? (f->st.st_mode & AUTH_MODE_NEW) : AUTH_MODE_NEW;

	if (fchmod(fd, mode) < 0 ||
	    fsutil_write_all(fd, f->text, cut0) < 0 ||
	    fsutil_write_all(fd, ins, inslen) < 0 ||
	    fsutil_write_all(fd, f->text + cut1, f->len - cut1) < 0 ||
	    fsync(fd) < 0)
		return -1;
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
	if (fsutil_dir_sync(dir) == 0)
		return 0;
	auth_err(err, errlen, "%s: changed, but syncing its directory failed: %s", dir, strerror(errno));
	return -1;
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
	char hash[PWHASH_STR_MAX];
	const char *nl = append && f->len > 0 && f->text[f->len - 1] != '\n' ? "\n" : "";
	int n;

	if (pwhash_make(pass, strlen(pass), hash) != 0) {
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
	if (!pwhash_init()) {
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
