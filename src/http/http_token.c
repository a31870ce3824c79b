/*
 * http_token.c - the admin token file (http_token.h).
 * SECURITY: root makes the file with O_EXCL|O_NOFOLLOW in a directory the
 * run user may write, so a link planted there is never written through;
 * reads refuse links and files others could read (as OpenSMTPD refuses
 * secret files readable by group or world).
 */
#include "http/http_token.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fsutil.h"

int
http_token_ensure(const char *path, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	unsigned char raw[32];
	char hex[sizeof(raw) * 2 + 2];
	int fd;

	if (sodium_init() < 0) {
		snprintf(err, errlen, "%s: libsodium cannot start", path);
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST)
		return 0;
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
	strcat(hex, "\n");
	if (fsutil_write_all(fd, hex, strlen(hex)) < 0 || fsync(fd) < 0 ||
	    (uid != (uid_t)-1 && fchown(fd, uid, gid) < 0)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		sodium_memzero(hex, sizeof(hex));
		close(fd);
		unlink(path);
		return -1;
	}
	sodium_memzero(hex, sizeof(hex));
	close(fd);
	return 1;
}

/* The first line of buf (n octets) as a token into out: 0 or -1. */
static int
http_token_parse(const char *buf, size_t n, char out[HTTP_TOKEN_MAX + 1])
{
	size_t len = 0;

	while (len < n && buf[len] != '\n' && buf[len] != '\r')
		len++;
	if (len < HTTP_TOKEN_MIN || len > HTTP_TOKEN_MAX)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (buf[i] <= ' ' || buf[i] > '~')
			return -1;
	memcpy(out, buf, len);
	out[len] = '\0';
	return 0;
}

int
http_token_read(const char *path, char out[HTTP_TOKEN_MAX + 1], char *err, size_t errlen)
{
	char buf[HTTP_TOKEN_MAX + 4];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), rc = -1;

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, errno == ELOOP ? "a symbolic link, refused" :
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		snprintf(err, errlen, "%s: not a regular file", path);
	else if ((st.st_mode & 077) != 0)
		snprintf(err, errlen, "%s: readable by group or others (mode %03o), refused: chmod 600 it",
		    path, (unsigned)(st.st_mode & 0777));
	else if ((n = read(fd, buf, sizeof(buf))) < 0)
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	else if (http_token_parse(buf, (size_t)n, out) < 0)
		snprintf(err, errlen, "%s: the first line is not a token (%d to %d visible characters)",
		    path, HTTP_TOKEN_MIN, HTTP_TOKEN_MAX);
	else
		rc = 0;
	sodium_memzero(buf, sizeof(buf));
	close(fd);
	return rc;
}
