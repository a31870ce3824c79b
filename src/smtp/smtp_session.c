/*
 * smtp_session.c - inbound SMTP connections: accept, framing of command
 * lines, replies, timeouts, STARTTLS and closing.
 * STANDARDS: RFC 5321 (4.1, 4.5.3.1.4 line limits, 4.5.3.2 timeouts),
 * RFC 3207 STARTTLS, RFC 8314 implicit TLS, RFC 2920 PIPELINING.
 * SECURITY: the peer is hostile. A command line ends at LF; over-long lines,
 * NUL and bare CR are refused; everything pipelined behind STARTTLS is
 * discarded (CVE-2011-0411). Replies are queued and flushed by the loop, so
 * pipelined commands get their replies in one write.
 */
#include "smtp/smtp_internal.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics/metrics.h"
#include "net/tls.h"
#include "net/worker.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/xmalloc.h"

#define SMTP_INPUT_HIGHWATER (256 * 1024)

static atomic_ullong smtp_session_counter;

static void smtp_read_cb(struct bufferevent *bev, void *arg);
static void smtp_write_cb(struct bufferevent *bev, void *arg);
static void smtp_event_cb(struct bufferevent *bev, short what, void *arg);
static void smtp_async_cb(evutil_socket_t fd, short what, void *arg);
static void smtp_session_free(struct smtp_session *s);

/* The session that embeds worker link c. */
static struct smtp_session *
smtp_session_of(struct worker_conn *c)
{
	return (struct smtp_session *)((char *)c - offsetof(struct smtp_session, conn));
}

void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	struct evbuffer *out;
	va_list ap;

	if (s->closed)
		return;
	out = bufferevent_get_output(s->bev);
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

/* Everything written reached the kernel? Under a STARTTLS filter the
 * ciphertext may still sit in the underlying socket's buffer. */
static bool
smtp_output_flushed(struct smtp_session *s)
{
	struct bufferevent *under = bufferevent_get_underlying(s->bev);

	return evbuffer_get_length(bufferevent_get_output(s->bev)) == 0 &&
	    (under == NULL || evbuffer_get_length(bufferevent_get_output(under)) == 0);
}

static void
smtp_linger_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	struct timeval tv = { 0, 20000 };

	(void)fd;
	(void)what;
	/* Give up after ~5 s: a peer that reads nothing is not waited for. */
	if (smtp_output_flushed(s) || ++s->linger_rounds > 250) {
		s->pending--;
		s->closed = true;
		smtp_session_release(s);
		return;
	}
	evtimer_add(s->linger_ev, &tv);
}

/* Close once the final replies are flushed. */
static void
smtp_close_when_flushed(struct smtp_session *s)
{
	struct timeval tv = { 0, 20000 };

	if (s->closed || s->linger_ev != NULL)
		return;
	if (smtp_output_flushed(s)) {
		s->closed = true;
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)
		return;   /* the write callback calls again */
	s->linger_ev = evtimer_new(s->worker->base, smtp_linger_cb, s);
	s->pending++;
	evtimer_add(s->linger_ev, &tv);
}

void
smtp_close_after_reply(struct smtp_session *s)
{
	s->state = SMTP_ST_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	smtp_close_when_flushed(s);
}

/* A refused command counts toward max_errors (Postfix's hard error limit).
 * errors is the session's total, for the log; strikes start again at each
 * queued message, so a client sending many good messages on one
 * connection is not cut for the odd refusal among them (as Postfix). */
void
smtp_reply_error(struct smtp_session *s, const char *reply)
{
	smtp_reply(s, "%s", reply);
	s->errors++;
	if (++s->strikes >= s->conf->max_errors) {
		log_info("event=disconnect-errors sid=%llu client=%s errors=%d", s->sid, s->addr, s->errors);
		smtp_reply(s, "421 4.7.0 %s Error: too many errors", s->conf->hostname);
		smtp_close_after_reply(s);
	}
}

bool
smtp_may_relay(const struct smtp_session *s)
{
	return s->auth_user != NULL || s->role == CONF_ROLE_LOCAL ||
	    s->ident.kind == STATE_IDENT_CONNECTOR ||
	    conf_relay_net_match(s->conf, (const struct sockaddr *)&s->peer);
}

/* AUTH exists on this listener, but only under TLS, and the client has not
 * started it: RFC 3207 4 answers 530 5.7.0 (not 503: the command is
 * available, just not yet). */
bool
smtp_tls_first(const struct smtp_session *s)
{
	return s->role != CONF_ROLE_MX && !s->tls && s->snap->tls != NULL;
}

/* RFC 3848 / RFC 6531 "with" keyword for Received: and logs. */
const char *
smtp_proto_name(const struct smtp_session *s)
{
	static const char *const names[2][2][2] = {
		{ { "ESMTP", "ESMTPA" }, { "ESMTPS", "ESMTPSA" } },
		{ { "UTF8SMTP", "UTF8SMTPA" }, { "UTF8SMTPS", "UTF8SMTPSA" } },
	};
	if (!s->esmtp)
		return "SMTP";
	return names[s->tx.params.smtputf8][s->tls][s->auth_user != NULL];
}

static void
smtp_bev_setup(struct smtp_session *s)
{
	bufferevent_setcb(s->bev, smtp_read_cb, smtp_write_cb, smtp_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTP_INPUT_HIGHWATER);
	smtp_timeouts_set(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

static void
smtp_refuse_connection(int fd, enum conf_role role, const char *addr, const struct conf *c,
    const char *reason)
{
	char buf[256];
	int n;

	log_info("event=connect-refused client=%s listener=%s reason=\"%s\"", addr,
	    conf_role_name(role), reason);
	if (role != CONF_ROLE_SUBMISSIONS) {
		n = snprintf(buf, sizeof(buf), "421 4.7.0 %s Error: %s\r\n", c->hostname, reason);
		if (send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			/* best effort: the client is being turned away anyway */
		}
	}
	close(fd);
}

static struct bufferevent *
smtp_bev_new(struct smtp_session *s, int fd)
{
	struct event_base *base = s->worker->base;
	int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;

	if (s->role != CONF_ROLE_SUBMISSIONS)
		return bufferevent_socket_new(base, fd, opts);
	if (s->snap->tls == NULL)
		return NULL;
	s->ssl = SSL_new(s->snap->tls);
	if (s->ssl == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(base, fd, s->ssl, BUFFEREVENT_SSL_ACCEPTING, opts);
}

/* worker_proto start: the worker accepted fd for one of our listeners;
 * ctx is ferryd's struct smtp_handles. */
static void
smtp_session_start(void *ctx, struct worker *w, int fd, const struct sockaddr *sa, socklen_t salen,
    enum conf_role role, size_t listener)
{
	const struct smtp_handles *h = ctx;
	struct server_snap *snap = server_snap_get(h->snaps);
	struct smtp_session *s;
	const char *reason;
	char addr[64];
	int one = 1;

	if (sa->sa_family == AF_UNIX)
		snprintf(addr, sizeof(addr), "local");
	else
		netaddr_ntop(sa, addr, sizeof(addr));
	if (server_conn_admit(w->srv, snap->conf, sa, &reason) < 0) {
		metrics_conn_inbound_refused(role);
		smtp_refuse_connection(fd, role, addr, snap->conf, reason);
		server_snap_put(snap);
		return;
	}
	if (sa->sa_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s = xcalloc(1, sizeof(*s));
	s->worker = w;
	s->srv = w->srv;
	s->h = h;
	s->snap = snap;
	s->conf = snap->conf;
	s->role = role;
	s->listener = listener;
	memcpy(&s->peer, sa, salen < sizeof(s->peer) ? salen : sizeof(s->peer));
	snprintf(s->addr, sizeof(s->addr), "%s", addr);
	s->sid = atomic_fetch_add(&smtp_session_counter, 1) + 1;
	metrics_conn_inbound_open(role);
	worker_conn_add(w, &s->conn);
	s->async_ev = event_new(w->base, -1, 0, smtp_async_cb, s);
	s->bev = smtp_bev_new(s, fd);
	log_info("event=connect sid=%llu client=%s listener=%s", s->sid, s->addr, conf_role_name(role));
	if (s->bev == NULL) {
		log_error("event=tls-unavailable sid=%llu listener=submissions "
		    "reason=\"no usable certificate\"", s->sid);
		close(fd);
		s->closed = true;
		smtp_session_free(s);
		return;
	}
	if (s->ssl != NULL)
		bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	smtp_tenant_connect(s);
	smtp_bev_setup(s);
	smtp_deadline_update(s, true);   /* the first line is due from now */
	smtp_reply(s, "220 %s ESMTP ferry", s->conf->hostname);
}

/* RFC 3207 4.2: forget everything learned before TLS, including any input
 * the client pipelined behind STARTTLS. */
void
smtp_starttls(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct bufferevent *tlsbev;

	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	evbuffer_drain(in, evbuffer_get_length(in));
	s->ssl = SSL_new(s->snap->tls);
	tlsbev = s->ssl ? bufferevent_openssl_filter_new(s->worker->base, s->bev, s->ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS) : NULL;
	if (tlsbev == NULL) {
		log_error("event=tls-error sid=%llu reason=\"cannot start TLS\"", s->sid);
		s->closed = true;
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(tlsbev, 1);
	s->bev = tlsbev;
	s->helo_seen = s->esmtp = false;
	s->helo[0] = '\0';
	smtp_tx_reset(s);
	smtp_bev_setup(s);
}

/* Pull one line (without its line end) into buf; returns its length, -1
 * when no complete line is buffered, -2 when the line was refused (a reply
 * was sent and the line dropped). */
static long
smtp_line_take(struct smtp_session *s, char *buf, size_t bufsz)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer_ptr eol;
	size_t eol_len, len, total = evbuffer_get_length(in);

	eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (eol.pos < 0) {
		if (total > bufsz) {
			/* No line end in sight: refuse, then skip to the next LF. */
			evbuffer_drain(in, total);
			if (!s->skip_line)
				smtp_reply_error(s, "500 5.5.2 Error: line too long");
			s->skip_line = true;
		}
		return -1;
	}
	len = (size_t)eol.pos;
	if (s->skip_line || len > bufsz) {
		evbuffer_drain(in, len + eol_len);
		if (!s->skip_line)
			smtp_reply_error(s, "500 5.5.2 Error: line too long");
		s->skip_line = false;
		return -2;
	}
	evbuffer_remove(in, buf, len);
	evbuffer_drain(in, eol_len);
	if (len > 0 && buf[len - 1] == '\r')
		return (long)len - 1;
	if (s->conf->reject_bare_lf) {
		smtp_reply_error(s, "500 5.5.2 Error: bare <LF> received");
		return -2;
	}
	return (long)len;
}

/* Bound and sanity-check one command line before any parser sees it. */
static bool
smtp_line_acceptable(struct smtp_session *s, const char *line, size_t len)
{
	size_t max = SMTP_CMDLINE_MAX - 2;

	if (s->state == SMTP_ST_AUTH || (len >= 5 && strncasecmp(line, "AUTH ", 5) == 0))
		max = SMTP_AUTH_LINE_MAX + 64;
	if (len > max) {
		smtp_reply_error(s, "500 5.5.2 Error: line too long");
		return false;
	}
	if (memchr(line, '\r', len) != NULL) {
		smtp_reply_error(s, "500 5.5.2 Error: bare <CR> received");
		return false;
	}
	if (memchr(line, '\0', len) != NULL) {
		smtp_reply_error(s, "500 5.5.2 Error: NUL character in command");
		return false;
	}
	return true;
}

static void
smtp_shutdown_check(struct smtp_session *s)
{
	if (!s->shutdown_asked || s->closed || s->state == SMTP_ST_CLOSING)
		return;
	if (s->state == SMTP_ST_COMMAND && !s->tx.active) {
		smtp_reply(s, "421 4.3.2 %s Service shutting down, try again later", s->conf->hostname);
		smtp_close_after_reply(s);
	}
}

static bool
smtp_content_step(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer_iovec v;
	size_t n;

	if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
		return false;
	n = smtp_content_feed(s, v.iov_base, v.iov_len);
	evbuffer_drain(in, n);
	s->deadline_bytes += n;
	return n > 0;
}

void
smtp_input_process(struct smtp_session *s)
{
	static _Thread_local char line[SMTP_AUTH_LINE_MAX + 128];
	bool progress = false;
	long len;

	while (!s->closed) {
		if (s->state == SMTP_ST_WAIT || s->state == SMTP_ST_CLOSING)
			break;
		if (s->state == SMTP_ST_DATA || s->state == SMTP_ST_BDAT) {
			if (!smtp_content_step(s))
				break;
			continue;
		}
		len = smtp_line_take(s, line, sizeof(line));
		if (len == -1)
			break;
		progress = true;
		if (len == -2 || !smtp_line_acceptable(s, line, (size_t)len))
			continue;
		s->ncmd++;
		if (s->state == SMTP_ST_AUTH)
			smtp_auth_line(s, line, (size_t)len);
		else
			smtp_cmd_dispatch(s, line, (size_t)len);
	}
	smtp_shutdown_check(s);
	smtp_deadline_update(s, progress);
}

void
smtp_session_release(struct smtp_session *s)
{
	if (s->closed && s->pending == 0)
		smtp_session_free(s);
}

static void
smtp_read_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	smtp_input_process(s);
	smtp_session_release(s);
}

static void
smtp_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	if (s->state == SMTP_ST_CLOSING)
		smtp_close_when_flushed(s);
	smtp_session_release(s);
}

static void
smtp_tls_log_error(struct smtp_session *s)
{
	unsigned long e = bufferevent_get_openssl_error(s->bev);
	char buf[256] = "connection closed";

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	log_info("event=tls-failed sid=%llu client=%s error=\"%s\"", s->sid, s->addr, buf);
}

static void
smtp_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (s->ssl != NULL) {
			s->tls = true;
			tls_describe(s->ssl, s->tls_info, sizeof(s->tls_info));
			metrics_tls_session(METRICS_INBOUND, SSL_get_version(s->ssl));
			log_info("event=tls sid=%llu client=%s tls=\"%s\"", s->sid, s->addr, s->tls_info);
		}
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		smtp_timeout_expired(s, "idle");
	} else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (s->ssl != NULL && !s->tls)
			smtp_tls_log_error(s);
		else if (s->state != SMTP_ST_CLOSING)
			log_info("event=lost-connection sid=%llu client=%s state=%d", s->sid, s->addr, s->state);
		s->closed = true;
	}
	smtp_session_release(s);
}

/* Runs on the worker thread after a committer or auth thread finished. */
static void
smtp_async_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	int kind = s->async_kind;

	(void)fd;
	(void)what;
	s->pending--;
	if (kind == 1)
		smtp_commit_result(s, s->async_result);
	else
		smtp_auth_result(s, s->async_result);
	/* the wait had no idle timeout (smtp_timeouts_set): the client's turn again */
	if (!s->closed && s->state != SMTP_ST_CLOSING && s->state != SMTP_ST_WAIT)
		smtp_timeouts_set(s);
	if (!s->closed)
		smtp_input_process(s);
	smtp_session_release(s);
}

/* worker_proto shutdown: an idle session is told 421 and closed now; one in
 * a transaction is closed right after the transaction's final reply. */
static void
smtp_session_shutdown(struct worker_conn *c)
{
	struct smtp_session *s = smtp_session_of(c);

	s->shutdown_asked = true;
	smtp_shutdown_check(s);
	smtp_session_release(s);
}

/* worker_proto abort: the deadline passed, close now (an unacknowledged
 * message is dropped; an acknowledged one is already durable). */
static void
smtp_session_abort(struct worker_conn *c)
{
	struct smtp_session *s = smtp_session_of(c);

	log_info("event=shutdown-abort sid=%llu client=%s", s->sid, s->addr);
	s->closed = true;
	if (s->pending == 0)
		smtp_session_free(s);
}

static void
smtp_session_free(struct smtp_session *s)
{
	struct worker *w = s->worker;
	char q[4 * SMTP_HELO_MAX + 8];

	/* the HELO name is the client's text: quoted like every network value */
	log_info("event=disconnect sid=%llu client=%s helo=%s commands=%u mail=%u rcpt=%u queued=%u errors=%d",
	    s->sid, s->addr, s->helo[0] ? log_quote(q, sizeof(q), s->helo, strlen(s->helo)) : "-", s->ncmd,
	    s->nmail, s->nrcpt, s->nqueued, s->errors);
	smtp_tx_reset(s);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	if (s->async_ev != NULL)
		event_free(s->async_ev);
	if (s->delay_ev != NULL)
		event_free(s->delay_ev);
	if (s->linger_ev != NULL)
		event_free(s->linger_ev);
	if (s->deadline_ev != NULL)
		event_free(s->deadline_ev);
	free(s->auth_user);
	free(s->auth_login_user);
	server_conn_release(s->srv, (const struct sockaddr *)&s->peer);
	metrics_conn_inbound_close(s->role);
	server_snap_put(s->snap);
	worker_conn_remove(w, &s->conn);
	free(s);
}

const struct worker_proto smtp_proto = {
	.start = smtp_session_start,
	.shutdown = smtp_session_shutdown,
	.abort = smtp_session_abort,
};
