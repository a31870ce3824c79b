/*
 * mta_client.c - outbound SMTP/LMTP sessions: connect (with a timeout and
 * an optional source address), greeting, EHLO with HELO fallback,
 * STARTTLS (opportunistic or required), AUTH PLAIN for smarthosts, and the
 * I/O with per-command timeouts that mta_tx.c builds on: non-blocking
 * sockets whose waits are the outbound loop's events when the caller is a
 * coroutine (net/coro.h), poll(2) otherwise.
 * STANDARDS: RFC 5321 3.1-3.2 and 4.5.3.2 (timeouts), RFC 3207 STARTTLS,
 * RFC 4954 AUTH, RFC 2033 LHLO.
 * SECURITY: octets the peer sent before the TLS handshake completed are
 * discarded (the client side of CVE-2011-0411); credentials are only sent
 * over TLS to a peer whose certificate was verified (or, when the route
 * says tls_verify=no, over any TLS; or a local Unix socket); every failure
 * is a reply, never a crash.
 */
#include "delivery/mta_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "metrics/metrics.h"
#include "net/tls.h"
#include "net/coro.h"
#include "util/netaddr.h"
#include "util/xmalloc.h"

#define MTA_CONNECT_TIMEOUT 30

/* ---- I/O ---------------------------------------------------------------- */

/* Wait for the socket as TLS or the kernel asks (what: EV_READ/EV_WRITE),
 * within the connection's timeout: on the outbound loop a coroutine wait,
 * elsewhere poll(2). -1 on timeout (errno EAGAIN). */
static int
io_wait(struct mta_conn *c, short what)
{
	return coro_wait_fd(c->fd, what, (long)c->timeout_s * 1000);
}

/* After an SSL call returned n <= 0: which readiness it needs, or 0 (failed). */
static short
io_ssl_want(struct mta_conn *c, int n)
{
	switch (SSL_get_error(c->ssl, n)) {
	case SSL_ERROR_WANT_READ:  return EV_READ;
	case SSL_ERROR_WANT_WRITE: return EV_WRITE;
	default:                   return 0;
	}
}

/* Write all of buf (through TLS once it is on). */
int
mta_io_write(struct mta_conn *c, const char *buf, size_t len)
{
	while (len > 0 && !c->dead) {
		ssize_t n;
		short want = 0;
		if (c->ssl != NULL) {
			n = SSL_write(c->ssl, buf, (int)(len > INT32_MAX ? INT32_MAX : len));
			if (n <= 0)
				want = io_ssl_want(c, (int)n);
		} else {
			n = send(c->fd, buf, len, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				want = EV_WRITE;
		}
		if (n <= 0) {
			if (want != 0 && io_wait(c, want) == 0)
				continue;
			c->dead = true;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return c->dead ? -1 : 0;
}

/* Format one command line (CRLF added) and write it. */
int
mta_io_printf(struct mta_conn *c, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2) {
		c->dead = true;
		return -1;
	}
	memcpy(line + n, "\r\n", 2);
	return mta_io_write(c, line, (size_t)n + 2);
}

/* Read whatever arrives into the buffer; -1 on EOF, error or timeout,
 * with errno EAGAIN only for a timeout. */
static int
io_fill(struct mta_conn *c)
{
	size_t room = sizeof(c->rbuf) - c->rlen;
	ssize_t n;

	if (room == 0) {
		errno = EPIPE;         /* a full buffer is no timeout */
		return -1;
	}
	for (;;) {
		short want = 0;
		if (c->ssl != NULL) {
			n = SSL_read(c->ssl, c->rbuf + c->rlen, (int)room);
			if (n <= 0)
				want = io_ssl_want(c, (int)n);
		} else {
			n = recv(c->fd, c->rbuf + c->rlen, room, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				want = EV_READ;
		}
		if (n > 0)
			break;
		if (want == 0) {
			errno = EPIPE;     /* EOF or an error: no timeout */
			return -1;
		}
		if (io_wait(c, want) < 0)
			return -1;         /* errno EAGAIN: the timeout */
	}
	c->rlen += (size_t)n;
	return 0;
}

/* Did the peer send anything we did not ask for (or close)? A reused
 * connection with such octets would pair replies with the wrong commands. */
bool
mta_io_unsolicited(struct mta_conn *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };

	return c->rlen > 0 || (c->ssl != NULL && SSL_pending(c->ssl) > 0) || poll(&p, 1, 0) != 0;
}

/* Read one complete reply. */
int
mta_io_reply(struct mta_conn *c, struct mta_reply *r, const char **raw, size_t *rawlen)
{
	for (;;) {
		long used = c->dead ? 0 : mta_reply_parse(c->rbuf, c->rlen, MTA_REPLY_TOLERANT, r);
		if (used > 0) {
			if (raw != NULL) {
				*raw = c->rbuf;
				*rawlen = (size_t)used;
			} else
				mta_io_consume(c, (size_t)used);
			return 0;
		}
		if (used < 0) {
			c->dead = true;
			mta_reply_set(r, 451, "4.5.0 malformed reply from %.300s", c->peer);
			return -1;
		}
		if (c->dead || io_fill(c) < 0) {
			bool timeout = errno == EAGAIN || errno == EWOULDBLOCK;
			c->dead = true;
			mta_reply_set(r, 451, "4.4.2 %s with %.300s", timeout ? "timeout" : "lost connection", c->peer);
			return -1;
		}
	}
}

/* Forget the first n octets of the read buffer. */
void
mta_io_consume(struct mta_conn *c, size_t n)
{
	memmove(c->rbuf, c->rbuf + n, c->rlen - n);
	c->rlen -= n;
}

/* Send one command and read its reply. */
int
mta_cmd(struct mta_conn *c, struct mta_reply *r, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		mta_reply_set(r, 451, "4.3.0 command too long for %.300s", c->peer);
		return -1;
	}
	if (mta_io_printf(c, "%s", line) < 0) {
		mta_reply_set(r, 451, "4.4.2 lost connection with %.300s", c->peer);
		return -1;
	}
	return mta_io_reply(c, r, NULL, NULL);
}

/* ---- connection set-up -------------------------------------------------- */

static int
conn_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

/* Connect bounded by seconds; returns a non-blocking socket (every wait
 * is io_wait's) or -1. */
static int
conn_tcp(const struct sockaddr *addr, socklen_t addrlen, const struct sockaddr *src,
    socklen_t srclen, int seconds, char *err, size_t errlen)
{
	int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (src != NULL && bind(fd, src, srclen) < 0) {
		snprintf(err, errlen, "cannot bind source address: %s", strerror(errno));
		goto fail;
	}
	if (connect(fd, addr, addrlen) < 0 && errno != EINPROGRESS) {
		snprintf(err, errlen, "connect: %s", strerror(errno));
		goto fail;
	}
	if (coro_wait_fd(fd, EV_WRITE, (long)seconds * 1000) < 0) {
		snprintf(err, errlen, "connect: timed out");
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0) {
		snprintf(err, errlen, "connect: %s", strerror(soerr ? soerr : errno));
		goto fail;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
fail:
	close(fd);
	return -1;
}

/* A connection object around a connected socket. */
static struct mta_conn *
conn_new(int fd, const struct mta_opts *o, const char *peer)
{
	struct mta_conn *c = xcalloc(1, sizeof(*c));

	c->fd = fd;
	c->lmtp = o->lmtp;
	c->timeout_s = o->timeout_s > 0 ? o->timeout_s : 300;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	metrics_conn_outbound_open();
	return c;
}

/* Free without QUIT. */
static void
conn_free(struct mta_conn *c)
{
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	close(c->fd);
	metrics_conn_outbound_close();
	free(c);
}

/* EHLO (LHLO for LMTP), falling back to HELO when the peer does not know EHLO. */
static int
conn_hello(struct mta_conn *c, const struct mta_opts *o, struct mta_reply *why)
{
	const char *raw;
	size_t rawlen;

	if (mta_io_printf(c, "%s %s", o->lmtp ? "LHLO" : "EHLO", o->helo) < 0 ||
	    mta_io_reply(c, why, &raw, &rawlen) < 0) {
		if (why->code == 0)
			mta_reply_set(why, 451, "4.4.2 lost connection with %.300s", c->peer);
		return -1;
	}
	if (why->code == 250) {
		mta_caps_parse(raw, rawlen, &c->caps);
		mta_io_consume(c, rawlen);
		return 0;
	}
	mta_io_consume(c, rawlen);
	if (o->lmtp || why->code < 500 || why->code == 554)
		return -1;
	memset(&c->caps, 0, sizeof(c->caps));
	if (mta_cmd(c, why, "HELO %s", o->helo) < 0 || why->code != 250)
		return -1;
	return 0;
}

/* Why the handshake failed: an unverified certificate is named as such
 * (4.7.5, RFC 3463 "cryptographic failure"), a deferral, never a bounce. */
static void
conn_tls_failure(struct mta_conn *c, const struct mta_opts *o, struct mta_reply *why)
{
	const char *verr = c->ssl != NULL && o->tls == MTA_TLS_VERIFY ? tls_client_verify_error(c->ssl) : "";

	if (verr[0] != '\0')
		mta_reply_set(why, 451, "4.7.5 TLS: certificate of %.300s not verified: %.200s",
		    o->tls_name, verr);
	else
		mta_reply_set(why, 451, "4.7.5 TLS handshake with %.300s failed", c->peer);
}

/* STARTTLS and the handshake; afterwards EHLO again (RFC 3207 4.2). */
static int
conn_starttls(struct mta_conn *c, const struct mta_opts *o, struct mta_reply *why, bool *handshake_failed)
{
	bool is_ip = o->tls_name != NULL && netaddr_ip_parse(o->tls_name, NULL, NULL);

	if (mta_cmd(c, why, "STARTTLS") < 0)
		return -1;
	if (why->code != 220 && o->tls >= MTA_TLS_REQUIRE) {
		/* Our policy failed, not the recipients: defer (as "not offered"),
		 * never bounce on the peer's 5xx to STARTTLS. */
		char text[MTA_TEXT_MAX];
		int code = why->code;
		snprintf(text, sizeof(text), "%s", why->text);
		mta_reply_set(why, 451, "4.7.4 TLS is required, but %.300s refused STARTTLS: %d %.300s",
		    c->peer, code, text);
		return -1;
	}
	if (why->code != 220)
		return 1;
	c->rlen = 0;                      /* nothing sent before the handshake counts */
	c->ssl = SSL_new(o->tls_ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
		goto fail;
	if (o->tls_name != NULL && !is_ip)    /* no SNI for an IP (RFC 6066 3) */
		SSL_set_tlsext_host_name(c->ssl, o->tls_name);
	if (o->tls == MTA_TLS_VERIFY &&
	    (o->tls_name == NULL || tls_client_verify_set(c->ssl, o->tls_name, is_ip) < 0))
		goto fail;
	for (int n; (n = SSL_connect(c->ssl)) != 1;) {
		short want = io_ssl_want(c, n);
		if (want == 0 || io_wait(c, want) < 0)
			goto fail;
	}
	c->verified = o->tls == MTA_TLS_VERIFY;
	tls_describe(c->ssl, c->tls_info, sizeof(c->tls_info));
	metrics_tls_session(METRICS_OUTBOUND, SSL_get_version(c->ssl));
	return conn_hello(c, o, why);
fail:
	ERR_clear_error();
	*handshake_failed = true;
	c->dead = true;
	conn_tls_failure(c, o, why);
	return -1;
}

/* AUTH PLAIN (RFC 4954); only ever over TLS or a local socket. */
static int
conn_auth(struct mta_conn *c, const struct mta_opts *o, bool local, struct mta_reply *why)
{
	unsigned char plain[1024], b64[1400];
	size_t ul = strlen(o->auth_user), pl = o->auth_pass ? strlen(o->auth_pass) : 0;
	int n;

	if (c->ssl == NULL && !local) {
		mta_reply_set(why, 451, "4.7.10 not sending credentials to %.300s without TLS", c->peer);
		return -1;
	}
	/* A man in the middle would get the password: only a verified peer,
	 * unless the route says tls_verify=no. */
	if (!local && !c->verified && !o->auth_unverified) {
		mta_reply_set(why, 451, "4.7.5 not sending credentials to %.300s: its certificate "
		    "was not verified", c->peer);
		return -1;
	}
	if (!c->caps.auth_plain) {
		mta_reply_set(why, 451, "4.7.0 %.300s does not offer AUTH PLAIN", c->peer);
		return -1;
	}
	if (ul + pl + 2 > sizeof(plain)) {
		mta_reply_set(why, 451, "4.7.0 credentials too long");
		return -1;
	}
	plain[0] = '\0';
	memcpy(plain + 1, o->auth_user, ul);
	plain[1 + ul] = '\0';
	memcpy(plain + 2 + ul, o->auth_pass ? o->auth_pass : "", pl);
	n = EVP_EncodeBlock(b64, plain, (int)(ul + pl + 2));
	OPENSSL_cleanse(plain, sizeof(plain));
	int rc = mta_cmd(c, why, "AUTH PLAIN %.*s", n, (char *)b64);
	OPENSSL_cleanse(b64, sizeof(b64));
	if (rc < 0)
		return -1;
	if (why->code != 235) {
		char text[MTA_TEXT_MAX];
		snprintf(text, sizeof(text), "%s", why->text);
		mta_reply_set(why, 451, "4.7.0 authentication to %.300s failed: %d %.300s", c->peer, why->code, text);
		return -1;
	}
	return 0;
}

/* Greeting, hello, TLS and AUTH on a connected socket. */
static int
conn_open(struct mta_conn *c, const struct mta_opts *o, bool local, struct mta_reply *why,
    bool *handshake_failed)
{
	if (mta_io_reply(c, why, NULL, NULL) < 0)
		return -1;
	if (why->code != 220)
		return -1;
	if (conn_hello(c, o, why) < 0)
		return -1;
	bool want = o->tls != MTA_TLS_NONE && o->tls_ctx != NULL;
	if (o->tls >= MTA_TLS_REQUIRE && (!c->caps.starttls || o->tls_ctx == NULL)) {
		mta_reply_set(why, 451, "4.7.10 TLS is required, but was not offered by %.300s", c->peer);
		return -1;
	}
	if (want && c->caps.starttls) {
		int rc = conn_starttls(c, o, why, handshake_failed);
		if (rc < 0)
			return -1;
	}
	if (o->auth_user != NULL && conn_auth(c, o, local, why) < 0)
		return -1;
	memset(why, 0, sizeof(*why));
	return 0;
}

/* One attempt at a TCP session; NULL with why on failure. */
static struct mta_conn *
conn_attempt(const struct sockaddr *addr, socklen_t addrlen, const struct sockaddr *src,
    socklen_t srclen, const struct mta_opts *o, struct mta_reply *why, bool *handshake_failed)
{
	char a[64], peer[320], err[200];
	int port = conn_port(addr);
	int fd;

	netaddr_ntop(addr, a, sizeof(a));
	snprintf(peer, sizeof(peer), "%.200s[%s]:%d", o->tls_name ? o->tls_name : a, a, port);
	fd = conn_tcp(addr, addrlen, src, srclen, o->connect_timeout_s > 0 ? o->connect_timeout_s :
	    MTA_CONNECT_TIMEOUT, err, sizeof(err));
	if (fd < 0) {
		mta_reply_set(why, 451, "4.4.1 cannot connect to %.300s: %.190s", peer, err);
		return NULL;
	}
	struct mta_conn *c = conn_new(fd, o, peer);
	if (conn_open(c, o, false, why, handshake_failed) < 0) {
		if (!c->dead)
			mta_io_printf(c, "QUIT");
		conn_free(c);
		return NULL;
	}
	return c;
}

/* Connect to addr; opportunistic TLS that fails in the handshake is retried in the clear. */
struct mta_conn *
mta_connect(const struct sockaddr *addr, socklen_t addrlen, const struct sockaddr *src,
    socklen_t srclen, const struct mta_opts *o, struct mta_reply *why)
{
	bool handshake_failed = false;
	struct mta_conn *c;

	memset(why, 0, sizeof(*why));
	c = conn_attempt(addr, addrlen, src, srclen, o, why, &handshake_failed);
	if (c == NULL && handshake_failed && o->tls == MTA_TLS_MAY) {
		struct mta_opts plain = *o;
		plain.tls = MTA_TLS_NONE;
		c = conn_attempt(addr, addrlen, src, srclen, &plain, why, &handshake_failed);
	}
	return c;
}

/* Same over a connected socket (LMTP on a Unix socket); takes fd. */
struct mta_conn *
mta_connect_fd(int fd, const struct mta_opts *o, struct mta_reply *why)
{
	char peer[320];
	bool handshake_failed = false;

	memset(why, 0, sizeof(*why));
	snprintf(peer, sizeof(peer), "%.200s[unix]", o->tls_name ? o->tls_name : "localhost");
	struct mta_conn *c = conn_new(fd, o, peer);
	if (conn_open(c, o, true, why, &handshake_failed) < 0) {
		if (!c->dead)
			mta_io_printf(c, "QUIT");
		conn_free(c);
		return NULL;
	}
	return c;
}

/* QUIT politely (without waiting long for the answer) and free. */
void
mta_close(struct mta_conn *c)
{
	struct mta_reply r;

	if (c == NULL)
		return;
	if (!c->dead) {
		c->timeout_s = 5;
		if (mta_io_printf(c, "QUIT") == 0)
			mta_io_reply(c, &r, NULL, NULL);
	}
	conn_free(c);
}

const char *
mta_tls_info(const struct mta_conn *c)
{
	return c->tls_info;
}

bool
mta_peer_dsn(const struct mta_conn *c)
{
	return c->caps.dsn;
}

const char *
mta_peer_name(const struct mta_conn *c)
{
	return c->peer;
}
