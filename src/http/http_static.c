/*
 * http_static.c - the dashboard's files: GET / (index.html) and any other
 * path no route takes, from http_www_dir. No credential: the files are
 * the same for everyone; the data they show comes from the API.
 * SECURITY: the path is the client's. It is walked one decoded segment at
 * a time with openat(O_NOFOLLOW) from the directory, so no "..", no
 * symbolic link and no encoded '/' can leave it; dot files (".htpasswd",
 * ".git") are never served; only regular files are.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "http/http_internal.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define HTTP_STATIC_DEPTH 16

static const char *
http_static_type(const char *name)
{
	static const char *const types[][2] = {
		{ ".html", "text/html; charset=utf-8" }, { ".css", "text/css; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" }, { ".mjs", "text/javascript; charset=utf-8" },
		{ ".json", "application/json" }, { ".map", "application/json" },
		{ ".svg", "image/svg+xml" }, { ".png", "image/png" }, { ".jpg", "image/jpeg" },
		{ ".jpeg", "image/jpeg" }, { ".gif", "image/gif" }, { ".webp", "image/webp" },
		{ ".ico", "image/x-icon" }, { ".woff2", "font/woff2" }, { ".woff", "font/woff" },
		{ ".txt", "text/plain; charset=utf-8" },
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot != NULL && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(dot, types[i][0]) == 0)
			return types[i][1];
	return "application/octet-stream";
}

/* Open the file path names under dirfd: a descriptor of a regular file
 * (its name's last segment in *leaf), or -1. dirfd is closed. */
static int
http_static_open(int dirfd, const char *path, char *leaf, size_t leaflen)
{
	const char *s = path;
	int depth = 0, fd;

	for (;;) {
		size_t n = strcspn(++s, "/");
		bool last = s[n] == '\0';
		if (http_pct_decode(s, n, leaf, leaflen) <= 0 || leaf[0] == '.' ||
		    strchr(leaf, '/') != NULL || ++depth > HTTP_STATIC_DEPTH)
			break;
		fd = openat(dirfd, leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
		    (last ? 0 : O_DIRECTORY));
		close(dirfd);
		if (fd < 0 || last)
			return fd;
		dirfd = fd;
		s += n;
	}
	close(dirfd);
	return -1;
}

static void
http_static_headers(struct evhttp_request *req, const char *type)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
}

void
http_www_open(struct http_server *s, const char *path)
{
	int fd, old;

	pthread_mutex_lock(&s->www_lock);
	if (s->www_path != NULL && strcmp(s->www_path, path) == 0) {
		pthread_mutex_unlock(&s->www_lock);
		return;
	}
	pthread_mutex_unlock(&s->www_lock);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		log_warn("event=http-www-unavailable dir=%s error=\"%s\" effect=\"no dashboard files\"", path,
		    strerror(errno));
		if (s->www_fd >= 0)
			return;     /* a reload keeps the running one */
	}
	pthread_mutex_lock(&s->www_lock);
	old = s->www_fd;
	s->www_fd = fd;
	free(s->www_path);
	s->www_path = xstrdup(path);
	pthread_mutex_unlock(&s->www_lock);
	if (old >= 0)
		close(old);
}

int
http_www_get(struct http_server *s)
{
	int fd;

	pthread_mutex_lock(&s->www_lock);
	fd = s->www_fd >= 0 ? fcntl(s->www_fd, F_DUPFD_CLOEXEC, 0) : -1;
	pthread_mutex_unlock(&s->www_lock);
	return fd;
}

void
http_www_close(struct http_server *s)
{
	if (s->www_fd >= 0)
		close(s->www_fd);
	s->www_fd = -1;
	free(s->www_path);
	s->www_path = NULL;
}

int
http_static_serve(struct evhttp_request *req, int dirfd, const char *path)
{
	char leaf[256];
	struct stat st;
	struct evbuffer *b;
	int fd;

	if (dirfd < 0)
		return 404;
	fd = http_static_open(dirfd, strcmp(path, "/") == 0 ? "/index.html" : path, leaf, sizeof(leaf));
	if (fd < 0)
		return 404;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (b = evbuffer_new()) == NULL) {
		close(fd);
		return 404;
	}
	if (st.st_size > 0 && evbuffer_add_file(b, fd, 0, st.st_size) < 0) {
		evbuffer_free(b);     /* out of memory */
		return 404;
	}
	if (st.st_size == 0)
		close(fd);
	http_static_headers(req, http_static_type(leaf));
	evhttp_send_reply(req, 200, NULL, b);
	evbuffer_free(b);
	return 200;
}
