/*
 * server.c - connection admission (total and per client address) and the
 * listening sockets.
 */
#include "net/server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/xmalloc.h"

struct conn_count {
	struct conn_count *next;
	unsigned char      key[16];
	long               n;
};

/* IPv4 clients are keyed as IPv4-mapped IPv6 so both forms count as one. */
static void
server_client_key(const struct sockaddr *sa, unsigned char key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET6) {
		memcpy(key, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, 16);
	} else if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	}
}

static struct conn_count **
server_client_slot(struct server *srv, const unsigned char key[16])
{
	unsigned h = 2166136261u;
	struct conn_count **pp;

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	pp = &srv->clients[h % (sizeof(srv->clients) / sizeof(srv->clients[0]))];
	while (*pp != NULL && memcmp((*pp)->key, key, 16) != 0)
		pp = &(*pp)->next;
	return pp;
}

int
server_conn_admit(struct server *srv, const struct conf *c, const struct sockaddr *sa,
    const char **reason)
{
	unsigned char key[16];
	struct conn_count **pp;
	/* Trusted networks are exempt from the per-client limit, as Postfix
	 * exempts mynetworks from its anvil limits. */
	bool exempt = sa->sa_family == AF_UNIX || conf_relay_net_match(c, sa);
	int rc = 0;

	server_client_key(sa, key);
	pthread_mutex_lock(&srv->lock);
	pp = server_client_slot(srv, key);
	if (atomic_load(&srv->nconn) >= c->max_connections) {
		*reason = "too many connections";
		rc = -1;
	} else if (!exempt && *pp != NULL && (*pp)->n >= c->max_connections_per_client) {
		*reason = "too many connections from your address";
		rc = -1;
	} else {
		if (*pp == NULL) {
			*pp = xcalloc(1, sizeof(**pp));
			memcpy((*pp)->key, key, 16);
		}
		(*pp)->n++;
		atomic_fetch_add(&srv->nconn, 1);
	}
	pthread_mutex_unlock(&srv->lock);
	return rc;
}

void
server_conn_release(struct server *srv, const struct sockaddr *sa)
{
	unsigned char key[16];
	struct conn_count **pp, *dead;

	server_client_key(sa, key);
	pthread_mutex_lock(&srv->lock);
	pp = server_client_slot(srv, key);
	if (*pp != NULL && --(*pp)->n == 0) {
		dead = *pp;
		*pp = dead->next;
		free(dead);
	}
	atomic_fetch_sub(&srv->nconn, 1);
	pthread_mutex_unlock(&srv->lock);
}

/* Connections the kernel may queue per listening socket before ferryd
 * accepts them. A burst beyond it is dropped (SYNs retried seconds later),
 * so the default is the most the kernel allows: listen(2) caps any larger
 * value at net.core.somaxconn. */
int
server_backlog(const struct conf *c)
{
	long long v = 4096;      /* the kernel's own default since Linux 5.4 */
	FILE *f;

	if (c->listen_backlog > 0)
		return (int)c->listen_backlog;
	if ((f = fopen("/proc/sys/net/core/somaxconn", "re")) != NULL) {
		if (fscanf(f, "%lld", &v) != 1 || v <= 0 || v > INT_MAX)
			v = 4096;
		fclose(f);
	}
	return (int)v;
}

/* The local submission socket: any local user may connect, like sendmail.
 * It lives in the run user's spool and root binds it: the mode is set on
 * the socket before bind (Linux gives the file that mode less the umask)
 * and the chmod after never follows a link the run user may have put in
 * the socket's place meanwhile (as control_bind does). */
static int
server_unix_bind(const struct conf_listener *l, int backlog, char *err, size_t errlen)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)&l->ss;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	unlink(sun->sun_path);
	if (fd >= 0)
		(void)fchmod(fd, 0666);
	if (fd < 0 || bind(fd, (const struct sockaddr *)sun, sizeof(*sun)) < 0 ||
	    fchmodat(AT_FDCWD, sun->sun_path, 0666, AT_SYMLINK_NOFOLLOW) < 0 ||
	    listen(fd, backlog) < 0) {
		/* glibc's fchmodat refuses a link with EOPNOTSUPP */
		snprintf(err, errlen, "listen local %s: %s", sun->sun_path, errno == EOPNOTSUPP ?
		    "replaced by a link while binding, refused" : strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int
server_socket_bind(const struct conf_listener *l, int backlog, char *err, size_t errlen)
{
	int one = 1;
	int fd = socket(l->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (l->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&l->ss, l->sslen) < 0 || listen(fd, backlog) < 0)
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "listen %s %s: %s", conf_role_name(l->role), l->text, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

int
server_listen(struct server *srv, const struct conf *c, size_t nworkers, char *err, size_t errlen)
{
	int backlog = server_backlog(c);

	srv->nworkers = nworkers;
	srv->nlisteners = c->nlisteners;
	srv->listen_fds = xcalloc(nworkers * c->nlisteners, sizeof(int));
	for (size_t w = 0; w < nworkers; w++)
		for (size_t i = 0; i < c->nlisteners; i++) {
			bool local = c->listeners[i].role == CONF_ROLE_LOCAL;
			int fd;
			/* A Unix socket cannot be shared with SO_REUSEPORT: worker 0 has it. */
			if (local && w > 0) {
				srv->listen_fds[w * c->nlisteners + i] = -1;
				continue;
			}
			fd = local ? server_unix_bind(&c->listeners[i], backlog, err, errlen) :
			    server_socket_bind(&c->listeners[i], backlog, err, errlen);
			if (fd < 0)
				return -1;
			srv->listen_fds[w * c->nlisteners + i] = fd;
		}
	return 0;
}

void
server_init(struct server *srv, struct server_snaps *snaps)
{
	pthread_mutex_init(&srv->lock, NULL);
	srv->snaps = snaps;
}

void
server_free(struct server *srv)
{
	struct conn_count *c, *next;

	free(srv->listen_fds);
	srv->listen_fds = NULL;
	for (size_t i = 0; i < sizeof(srv->clients) / sizeof(srv->clients[0]); i++)
		for (c = srv->clients[i]; c != NULL; c = next) {
			next = c->next;
			free(c);
		}
}
