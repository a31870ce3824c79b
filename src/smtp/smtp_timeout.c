/*
 * smtp_timeout.c - how long an inbound client may take: an idle timeout on
 * the connection, and deadlines for a whole command line and for a whole
 * DATA/BDAT transfer.
 * STANDARDS: RFC 5321 4.5.3.2 (server timeouts: timeout_command is 4.5.3.2.7,
 * timeout_data 4.5.3.2.5); 421 4.4.2 (RFC 3463: connection dropped).
 * SECURITY: the bufferevent's idle timeouts restart on every byte, so alone
 * they let a client trickling one byte every few seconds hold a session for
 * ever, and a few hundred such clients fill max_connections (slowloris).
 * The deadlines do not restart on bytes. A command line must be complete
 * within timeout_command of the previous complete line (or of the
 * greeting, or of the reply that ended a DATA/AUTH wait). Content must
 * arrive within timeout_data plus one second per data_min_rate octets
 * received, as Postfix 3.7's smtpd_per_request_deadline with
 * smtpd_min_data_rate: a fixed total time would have to be hours to let a
 * 35 MB message through a slow link, while the rate lets any size through
 * at data_min_rate or faster and ends a trickler after about timeout_data.
 */
#include "smtp/smtp_internal.h"

#include <time.h>

#include "net/worker.h"
#include "util/log.h"

static long long
smtp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *
smtp_state_name(enum smtp_state st)
{
	switch (st) {
	case SMTP_ST_COMMAND: return "command";
	case SMTP_ST_DATA:    return "data";
	case SMTP_ST_BDAT:    return "bdat";
	case SMTP_ST_AUTH:    return "auth";
	case SMTP_ST_WAIT:    return "wait";
	case SMTP_ST_CLOSING: return "closing";
	}
	return "unknown";
}

void
smtp_timeouts_set(struct smtp_session *s)
{
	struct timeval rd = { .tv_sec = s->conf->timeout_command };
	struct timeval wr = { .tv_sec = s->conf->timeout_command };
	struct bufferevent *under;

	if (s->state == SMTP_ST_DATA || s->state == SMTP_ST_BDAT)
		rd.tv_sec = s->conf->timeout_data;
	/* Waiting for the content filters, the committer or the auth thread is
	 * the server's turn: a client that sends nothing meanwhile is right,
	 * and a 421 now would precede the final reply (the filters' own
	 * timeouts bound a scan). */
	bufferevent_set_timeouts(s->bev, s->state == SMTP_ST_WAIT ? NULL : &rd, &wr);
	/* After STARTTLS s->bev is a TLS filter; the socket's bufferevent
	 * under it keeps its own timeouts, and its timeout events reach ours */
	if ((under = bufferevent_get_underlying(s->bev)) != NULL)
		bufferevent_set_timeouts(under, s->state == SMTP_ST_WAIT ? NULL : &rd, &wr);
}

/* reason: "idle" (no byte for the timeout) or "deadline". */
void
smtp_timeout_expired(struct smtp_session *s, const char *reason)
{
	log_info("event=timeout sid=%llu client=%s state=%s reason=%s", s->sid, s->addr,
	    smtp_state_name(s->state), reason);
	smtp_reply(s, "421 4.4.2 %s Error: timeout exceeded", s->conf->hostname);
	smtp_close_after_reply(s);
	bufferevent_enable(s->bev, EV_WRITE);
}

static void smtp_deadline_cb(evutil_socket_t fd, short what, void *arg);

static void
smtp_deadline_arm(struct smtp_session *s, long long ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	if (s->deadline_ev == NULL)
		s->deadline_ev = evtimer_new(s->worker->base, smtp_deadline_cb, s);
	evtimer_add(s->deadline_ev, &tv);
}

/* Content earns one second beyond timeout_data per data_min_rate octets:
 * milliseconds allowed since the transfer began. */
static long long
smtp_deadline_content_ms(const struct smtp_session *s)
{
	long long ms = s->conf->timeout_data * 1000;

	if (s->conf->data_min_rate > 0)
		ms += (long long)(s->deadline_bytes * 1000 / (uint64_t)s->conf->data_min_rate);
	return ms;
}

static void
smtp_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	long long left;

	(void)fd;
	(void)what;
	if (s->closed || s->state == SMTP_ST_CLOSING || s->deadline_kind == SMTP_DL_NONE)
		return;
	if (s->deadline_kind == SMTP_DL_CONTENT) {
		left = smtp_deadline_content_ms(s) - (smtp_now_ms() - s->deadline_start);
		if (left > 0) {
			smtp_deadline_arm(s, left);   /* the octets received bought time */
			return;
		}
	}
	smtp_timeout_expired(s, "deadline");
	smtp_session_release(s);
}

static enum smtp_deadline
smtp_deadline_kind_of(const struct smtp_session *s)
{
	if (s->closed)
		return SMTP_DL_NONE;
	switch (s->state) {
	case SMTP_ST_COMMAND:
	case SMTP_ST_AUTH:
		return SMTP_DL_COMMAND;
	case SMTP_ST_DATA:
	case SMTP_ST_BDAT:
		return SMTP_DL_CONTENT;
	default:
		return SMTP_DL_NONE;   /* the server's turn, or closing */
	}
}

/* After input was processed: a complete line (progress) or a change of
 * state starts the clock again; bytes alone never do. */
void
smtp_deadline_update(struct smtp_session *s, bool progress)
{
	enum smtp_deadline kind = smtp_deadline_kind_of(s);

	if (kind == s->deadline_kind && !progress)
		return;
	s->deadline_kind = kind;
	if (kind == SMTP_DL_NONE) {
		if (s->deadline_ev != NULL)
			evtimer_del(s->deadline_ev);
		return;
	}
	s->deadline_start = smtp_now_ms();
	s->deadline_bytes = 0;
	smtp_deadline_arm(s, (kind == SMTP_DL_COMMAND ? s->conf->timeout_command :
	    s->conf->timeout_data) * 1000);
}
