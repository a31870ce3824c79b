/*
 * maildir.c - local delivery into a Maildir: write under tmp/ with a unique
 * name, fsync, rename into new/, fsync new/; what Dovecot and Courier read.
 * STANDARDS: the Maildir format (cr.yp.to/proto/maildir.html); RFC 5321
 * 4.4 (Return-Path at final delivery).
 * SECURITY: directory names come from ferry's configuration and from the
 * recipient address mapped by maildir_path(), which escapes '/', '%',
 * control characters and a leading '.', so no address can leave its domain's
 * folder. Files are created 0600 with O_EXCL|O_NOFOLLOW.
 */
#include "delivery/maildir.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "util/fsutil.h"

#define MD_CHUNK 65536

static atomic_uint md_counter;

/* Append s to out at *n, escaping what may not appear in a folder name. */
static int
md_name_escape(const char *s, size_t len, char *out, size_t outsz, size_t *n)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		bool esc = ch < 0x20 || ch == 0x7f || ch == '/' || ch == '%' || (i == 0 && ch == '.');
		if (*n + 4 >= outsz)
			return -1;
		if (esc)
			*n += (size_t)snprintf(out + *n, outsz - *n, "%%%02X", ch);
		else
			out[(*n)++] = (char)tolower(ch);
	}
	out[*n] = '\0';
	return 0;
}

/* ROOT/DOMAIN/LOCALPART/ for an address. */
int
maildir_path(const char *root, const char *addr, char *out, size_t outsz)
{
	const char *at = strrchr(addr, '@');
	size_t n;

	if (at == NULL || at == addr || at[1] == '\0')
		return -1;
	n = (size_t)snprintf(out, outsz, "%s/", root);
	if (n >= outsz || md_name_escape(at + 1, strlen(at + 1), out, outsz, &n) < 0 || n + 2 >= outsz)
		return -1;
	out[n++] = '/';
	if (md_name_escape(addr, (size_t)(at - addr), out, outsz, &n) < 0 || n + 2 >= outsz)
		return -1;
	out[n++] = '/';
	out[n] = '\0';
	return 0;
}

/* mkdir that accepts an existing directory; a missing parent fails. */
static int
md_mkdir(const char *path, char *err, size_t errlen)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
	return -1;
}

/* Create ROOT/DOMAIN/LOCAL/{tmp,new,cur} as far as missing; each level needs its parent. */
static int
md_create(const char *maildir, char *err, size_t errlen)
{
	char path[4096];
	size_t len = strlen(maildir);

	if (len + 5 >= sizeof(path)) {
		snprintf(err, errlen, "maildir path too long");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/new", maildir);
	if (access(path, F_OK) == 0)
		return 0;
	/* the last three components: domain, local part and the Maildir's root */
	memcpy(path, maildir, len + 1);
	while (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';
	char *cuts[2] = { NULL, NULL };
	for (int i = 0; i < 2; i++) {
		char *s = strrchr(path, '/');
		if (s == NULL || s == path)
			break;
		*s = '\0';
		cuts[i] = s;
	}
	for (int i = 1; i >= 0; i--) {
		if (cuts[i] == NULL)
			continue;
		if (i == 1 && md_mkdir(path, err, errlen) < 0)   /* ROOT (its parent must exist) */
			return -1;
		*cuts[i] = '/';
		if (md_mkdir(path, err, errlen) < 0)
			return -1;
	}
	if (cuts[0] == NULL && md_mkdir(path, err, errlen) < 0)
		return -1;
	static const char *const subs[] = { "tmp", "new", "cur" };
	for (size_t i = 0; i < 3; i++) {
		char sub[4200];
		snprintf(sub, sizeof(sub), "%s/%s", path, subs[i]);
		if (md_mkdir(sub, err, errlen) < 0)
			return -1;
	}
	fsutil_dir_sync(path);
	return 0;
}

static pthread_once_t md_host_once = PTHREAD_ONCE_INIT;
static char md_host[256] = "localhost";

/* The host part of file names, read once (not a syscall per message). */
static void
md_host_init(void)
{
	char host[256] = "";

	if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0')
		return;
	for (char *p = host; *p; p++)
		if (*p == '/' || *p == ':')
			*p = '_';
	memcpy(md_host, host, sizeof(md_host));
}

/* A unique file name: time.MusecPpidQcounter.host (the Maildir convention). */
static void
md_unique(char *out, size_t outsz)
{
	struct timeval tv;

	pthread_once(&md_host_once, md_host_init);
	gettimeofday(&tv, NULL);
	snprintf(out, outsz, "%lld.M%ldP%dQ%u.%s", (long long)tv.tv_sec, (long)tv.tv_usec, (int)getpid(),
	    atomic_fetch_add(&md_counter, 1) + 1, md_host);
}

/* The trace headers, then the content with CRLF turned into LF. */
static int
md_write_message(int out, int content_fd, off_t off, uint64_t len, const char *sender, const char *rcpt)
{
	char *buf;
	uint64_t done = 0;
	int rc = 0;

	if (dprintf(out, "Return-Path: <%s>\nDelivered-To: %s\n", sender, rcpt) < 0)
		return -1;
	buf = malloc(MD_CHUNK);
	if (buf == NULL)
		return -1;
	while (done < len && rc == 0) {
		size_t want = len - done > MD_CHUNK ? MD_CHUNK : (size_t)(len - done);
		ssize_t n = pread(content_fd, buf, want, off + (off_t)done);
		if (n <= 0) {
			rc = -1;
			break;
		}
		size_t o = 0;
		for (ssize_t i = 0; i < n; i++)    /* the spool holds no bare CR: every CR ends a line */
			if (buf[i] != '\r')
				buf[o++] = buf[i];
		done += (uint64_t)n;
		rc = fsutil_write_all(out, buf, o);
	}
	free(buf);
	return rc;
}

/* Deliver content to maildir (created if its parent exists). */
int
maildir_deliver(const char *maildir, int content_fd, off_t off, uint64_t len,
    const char *sender, const char *rcpt, char *err, size_t errlen)
{
	char name[512], tmp[4700], dst[4700], newdir[4200];
	int fd;

	if (md_create(maildir, err, errlen) < 0)
		return -1;
	md_unique(name, sizeof(name));
	snprintf(tmp, sizeof(tmp), "%s/tmp/%s", maildir, name);
	snprintf(dst, sizeof(dst), "%s/new/%s", maildir, name);
	snprintf(newdir, sizeof(newdir), "%s/new", maildir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		return -1;
	}
	if (md_write_message(fd, content_fd, off, len, sender, rcpt) < 0 || fsync(fd) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto fail;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, dst) < 0 || fsutil_dir_sync(newdir) < 0) {
		snprintf(err, errlen, "cannot move %s into new/: %s", name, strerror(errno));
		goto fail;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}
