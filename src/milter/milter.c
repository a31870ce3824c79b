/*
 * milter.c - the milter client: one connection per filter and message, a
 * state machine driven by the session's event loop (libevent bufferevent),
 * each step bounded by the filter's timeout; see milter.h.
 * STANDARDS: sendmail milter protocol version 6 (libmilter's mfdef.h), as
 * Postfix's milter8.c speaks it; macros i, j, {daemon_name}, {mail_addr},
 * {rcpt_addr}, {auth_authen}.
 * SECURITY: nothing a filter sends is trusted (milter_proto.c). A filter
 * that fails at any point, or says something out of turn, gets its default
 * action; its own edits are then dropped. Filters run one after another,
 * each on the original message; their edits are applied together after.
 */
#include "milter/milter.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "util/log.h"
#include "util/xmalloc.h"

_Static_assert(5 + MILTER_HDR_NAME_SEND_MAX + 1 + MILTER_HDR_VALUE_SEND_MAX + 1 <= sizeof(((struct milter_pkt *)0)->buf),
    "a cut header fits one packet");

enum milter_phase {
	MP_CONNECTING, MP_OPTNEG, MP_CONNECT, MP_HELO, MP_MAIL, MP_RCPT, MP_DATA,
	MP_HEADER, MP_EOH, MP_BODY, MP_EOM, MP_DONE,
};

static const char *const milter_phase_names[] = {
	"connect", "negotiate", "connect-info", "helo", "mail", "rcpt", "data",
	"header", "end-of-header", "body", "end-of-message", "done",
};

/* The step's NO (skip) and NR (no reply) protocol bits. */
static const uint32_t milter_phase_no[] = {
	[MP_CONNECT] = MILTER_P_NOCONNECT, [MP_HELO] = MILTER_P_NOHELO, [MP_MAIL] = MILTER_P_NOMAIL,
	[MP_RCPT] = MILTER_P_NORCPT, [MP_DATA] = MILTER_P_NODATA, [MP_HEADER] = MILTER_P_NOHDRS,
	[MP_EOH] = MILTER_P_NOEOH, [MP_BODY] = MILTER_P_NOBODY,
};
static const uint32_t milter_phase_nr[] = {
	[MP_CONNECT] = MILTER_P_NR_CONN, [MP_HELO] = MILTER_P_NR_HELO, [MP_MAIL] = MILTER_P_NR_MAIL,
	[MP_RCPT] = MILTER_P_NR_RCPT, [MP_DATA] = MILTER_P_NR_DATA, [MP_HEADER] = MILTER_P_NR_HDR,
	[MP_EOH] = MILTER_P_NR_EOH, [MP_BODY] = MILTER_P_NR_BODY,
};

struct milter_scan {
	struct event_base         *base;
	const struct conf_milter **milters;
	size_t                     n, cur;
	struct milter_env          env;
	struct milter_hdrs         hdrs;
	bool                       hdrs_loaded;
	milter_done_cb             cb;
	void                      *cb_arg;
	struct milter_result       res;
	struct event              *kick;      /* starts the first filter from the loop */
	struct event              *reaper;    /* frees the scan after its callback */
	unsigned                   gen;       /* bumped when a connection closes */
	/* the current filter's connection */
	struct bufferevent        *bev;
	struct event              *timer;
	enum milter_phase          phase;
	size_t                     idx;       /* RCPT or HEADER number */
	uint64_t                   body_off;
	uint32_t                   actions, protocol;
	bool                       waiting;   /* a reply is due */
	bool                       ended;     /* the scan is finished: do nothing more */
	struct milter_edit        *edits;     /* this filter's, until its final reply */
	size_t                     nedits;
	bool                       quarantine;
	char                       quarantine_reason[256];
	bool                       scored;
	double                     score;
	struct milter_pkt          pkt;
};

static void milter_next_filter(struct milter_scan *sc);

static void
milter_edits_free(struct milter_edit *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].name);
		free(e[i].value);
	}
	free(e);
}

static void
milter_conn_close(struct milter_scan *sc, bool quit)
{
	sc->gen++;
	if (sc->bev != NULL) {
		evutil_socket_t fd = bufferevent_getfd(sc->bev);
		if (quit && fd >= 0) {
			/* best effort, never waited for: the filter sees QUIT or EOF */
			static const unsigned char q[5] = { 0, 0, 0, 1, MILTER_CMD_QUIT };
			(void)send(fd, q, sizeof(q), MSG_DONTWAIT | MSG_NOSIGNAL);
		}
		bufferevent_free(sc->bev);
		sc->bev = NULL;
	}
	if (sc->timer != NULL) {
		event_free(sc->timer);
		sc->timer = NULL;
	}
	milter_edits_free(sc->edits, sc->nedits);
	sc->edits = NULL;
	sc->nedits = 0;
	sc->quarantine = false;
	sc->scored = false;
}

static void
milter_scan_free(struct milter_scan *sc)
{
	milter_conn_close(sc, false);
	milter_edits_free(sc->res.edits, sc->res.nedits);
	milter_hdrs_free(&sc->hdrs);
	event_free(sc->kick);
	event_free(sc->reaper);
	free(sc->milters);
	free(sc);
}

static void
milter_reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	milter_scan_free(arg);
}

/* The scan is over: tell the session; the scan is freed from the loop
 * later, since a callback of its own may still be on the stack. */
static void
milter_scan_end(struct milter_scan *sc)
{
	sc->ended = true;
	milter_conn_close(sc, true);
	sc->cb(sc->cb_arg, &sc->res);
	event_active(sc->reaper, 0, 0);
}

static const char *
milter_verdict_name(enum milter_verdict v)
{
	static const char *const names[] = { "accept", "reject", "tempfail", "discard" };
	return names[v];
}

static void
milter_verdict_log(struct milter_scan *sc, const char *verdict)
{
	char score[32] = "-";

	if (sc->scored)
		snprintf(score, sizeof(score), "%.2f", sc->score);
	log_info("event=milter-verdict sid=%llu id=%s milter=%s verdict=%s score=%s", sc->env.sid,
	    sc->env.queue_id, sc->milters[sc->cur]->name, verdict, score);
}

/* A filter failed: its default action. */
static void
milter_fail(struct milter_scan *sc, const char *reason)
{
	const struct conf_milter *m = sc->milters[sc->cur];
	char q[300];

	log_error("event=milter-failed sid=%llu id=%s milter=%s action=%s phase=%s reason=%s", sc->env.sid,
	    sc->env.queue_id, m->name, m->default_accept ? "accept" : "tempfail",
	    milter_phase_names[sc->phase], log_quote(q, sizeof(q), reason, strlen(reason)));
	milter_conn_close(sc, false);
	if (m->default_accept) {
		sc->cur++;
		milter_next_filter(sc);
		return;
	}
	sc->res.verdict = MILTER_V_TEMPFAIL;
	sc->res.failed = true;
	sc->res.reply[0] = '\0';
	snprintf(sc->res.milter, sizeof(sc->res.milter), "%s", m->name);
	milter_scan_end(sc);
}

/* Keep this filter's edits, quarantine and score in the result. */
static void
milter_filter_keep(struct milter_scan *sc)
{
	struct milter_result *r = &sc->res;

	if (sc->nedits > 0) {
		r->edits = xrealloc(r->edits, (r->nedits + sc->nedits) * sizeof(*r->edits));
		memcpy(r->edits + r->nedits, sc->edits, sc->nedits * sizeof(*sc->edits));
		r->nedits += sc->nedits;
		free(sc->edits);
		sc->edits = NULL;
		sc->nedits = 0;
	}
	if (sc->quarantine && !r->quarantine) {
		r->quarantine = true;
		snprintf(r->quarantine_reason, sizeof(r->quarantine_reason), "%s", sc->quarantine_reason);
		snprintf(r->milter, sizeof(r->milter), "%s", sc->milters[sc->cur]->name);
	}
	if (sc->scored) {
		r->scored = true;
		r->score = sc->score;
	}
}

/* This filter is through (continue at end of message, or accept). */
static void
milter_filter_done(struct milter_scan *sc, const char *verdict)
{
	milter_verdict_log(sc, sc->quarantine ? "quarantine" : verdict);
	milter_filter_keep(sc);
	milter_conn_close(sc, true);
	sc->cur++;
	milter_next_filter(sc);
}

/* A final refusal or discard: no other filter is asked. */
static void
milter_filter_final(struct milter_scan *sc, enum milter_verdict v, const char *text)
{
	struct milter_result *r = &sc->res;

	milter_verdict_log(sc, milter_verdict_name(v));
	if (sc->scored) {
		r->scored = true;
		r->score = sc->score;
	}
	r->verdict = v;
	r->spam = v == MILTER_V_REJECT && sc->milters[sc->cur]->spam;
	snprintf(r->reply, sizeof(r->reply), "%s", text);
	snprintf(r->milter, sizeof(r->milter), "%s", sc->milters[sc->cur]->name);
	milter_scan_end(sc);
}

static void
milter_timer_arm(struct milter_scan *sc, long long seconds)
{
	struct timeval tv = { (time_t)seconds, 0 };

	evtimer_add(sc->timer, &tv);
}

static int
milter_pkt_send(struct milter_scan *sc)
{
	if (milter_pkt_end(&sc->pkt) < 0)
		return -1;
	return bufferevent_write(sc->bev, sc->pkt.buf, sc->pkt.len);
}

/* D packet: macros for the command that follows; pairs NULL-terminated. */
static int
milter_macros_send(struct milter_scan *sc, enum milter_cmd cmd, const char *const *kv)
{
	milter_pkt_begin(&sc->pkt, MILTER_CMD_MACRO);
	milter_pkt_u8(&sc->pkt, cmd);
	for (; kv[0] != NULL; kv += 2)
		if (kv[1] != NULL) {
			milter_pkt_str(&sc->pkt, kv[0], strlen(kv[0]));
			milter_pkt_str(&sc->pkt, kv[1], strlen(kv[1]));
		}
	return milter_pkt_send(sc);
}

static int
milter_str_send(struct milter_scan *sc, enum milter_cmd cmd, const char *s)
{
	milter_pkt_begin(&sc->pkt, cmd);
	milter_pkt_str(&sc->pkt, s, strlen(s));
	return milter_pkt_send(sc);
}

static int
milter_path_send(struct milter_scan *sc, enum milter_cmd cmd, const char *addr)
{
	milter_pkt_begin(&sc->pkt, cmd);
	milter_pkt_raw(&sc->pkt, "<", 1);
	milter_pkt_raw(&sc->pkt, addr, strlen(addr));
	milter_pkt_str(&sc->pkt, ">", 1);
	return milter_pkt_send(sc);
}

static int
milter_connect_send(struct milter_scan *sc)
{
	const struct milter_env *e = &sc->env;
	const char *kv[] = { "j", e->hostname, "{daemon_name}", "ferry", "{client_addr}", e->client_addr,
		NULL };
	char fam = e->client_family == AF_INET ? '4' : e->client_family == AF_INET6 ? '6' : 'U';

	if (milter_macros_send(sc, MILTER_CMD_CONNECT, kv) < 0)
		return -1;
	milter_pkt_begin(&sc->pkt, MILTER_CMD_CONNECT);
	milter_pkt_str(&sc->pkt, "unknown", 7);
	milter_pkt_u8(&sc->pkt, (unsigned char)fam);
	if (fam != 'U') {
		milter_pkt_u16(&sc->pkt, e->client_port);
		milter_pkt_str(&sc->pkt, e->client_addr, strlen(e->client_addr));
	}
	return milter_pkt_send(sc);
}

/* A header's name or value as sent: at most max octets, a cut one without
 * the line break or white space it ended on, a NUL (the filter would read
 * a shorter string) as a space. The client wrote it: it must not be able
 * to make the filter fail (and its default action apply). */
static void
milter_pkt_field(struct milter_pkt *p, const char *s, size_t len, size_t max)
{
	size_t at = p->len;

	if (len > max) {
		len = max;
		while (len > 0 && (s[len - 1] == '\r' || s[len - 1] == '\n' || s[len - 1] == ' ' ||
		    s[len - 1] == '\t'))
			len--;
	}
	milter_pkt_raw(p, s, len);
	if (!p->overflow)
		for (size_t i = at; i < p->len; i++)
			if (p->buf[i] == '\0')
				p->buf[i] = ' ';
	milter_pkt_u8(p, 0);
}

static int
milter_header_send(struct milter_scan *sc)
{
	const struct milter_hdr *h = &sc->hdrs.v[sc->idx];

	if (h->value_len > MILTER_HDR_VALUE_SEND_MAX || h->name_len > MILTER_HDR_NAME_SEND_MAX)
		log_info("event=milter-header-cut sid=%llu id=%s milter=%s header=%zu length=%zu",
		    sc->env.sid, sc->env.queue_id, sc->milters[sc->cur]->name, sc->idx, h->len);
	milter_pkt_begin(&sc->pkt, MILTER_CMD_HEADER);
	milter_pkt_field(&sc->pkt, sc->hdrs.buf + h->off, h->name_len, MILTER_HDR_NAME_SEND_MAX);
	milter_pkt_field(&sc->pkt, sc->hdrs.buf + h->value_off, h->value_len, MILTER_HDR_VALUE_SEND_MAX);
	return milter_pkt_send(sc);
}

static int
milter_body_send(struct milter_scan *sc)
{
	uint64_t left = sc->env.size - sc->body_off;
	size_t want = left < MILTER_CHUNK_MAX ? (size_t)left : MILTER_CHUNK_MAX;
	long n;

	milter_pkt_begin(&sc->pkt, MILTER_CMD_BODY);
	n = sc->env.read(sc->env.read_arg, sc->body_off, sc->pkt.buf + sc->pkt.len, want);
	if (n <= 0)
		return -1;
	sc->pkt.len += (size_t)n;
	sc->body_off += (uint64_t)n;
	return milter_pkt_send(sc);
}

static int
milter_step_send(struct milter_scan *sc)
{
	const struct milter_env *e = &sc->env;

	switch (sc->phase) {
	case MP_CONNECT:
		return milter_connect_send(sc);
	case MP_HELO:
		return milter_str_send(sc, MILTER_CMD_HELO, e->helo);
	case MP_MAIL: {
		const char *kv[] = { "i", e->queue_id, "{mail_addr}", e->sender, "{auth_authen}", e->auth_user,
			NULL };
		if (milter_macros_send(sc, MILTER_CMD_MAIL, kv) < 0)
			return -1;
		return milter_path_send(sc, MILTER_CMD_MAIL, e->sender);
	}
	case MP_RCPT: {
		const char *kv[] = { "{rcpt_addr}", e->rcpts[sc->idx], NULL };
		if (milter_macros_send(sc, MILTER_CMD_RCPT, kv) < 0)
			return -1;
		return milter_path_send(sc, MILTER_CMD_RCPT, e->rcpts[sc->idx]);
	}
	case MP_HEADER:
		return milter_header_send(sc);
	case MP_BODY:
		return milter_body_send(sc);
	case MP_EOM: {
		const char *kv[] = { "i", e->queue_id, NULL };
		if (milter_macros_send(sc, MILTER_CMD_EOM, kv) < 0)
			return -1;
		milter_pkt_begin(&sc->pkt, MILTER_CMD_EOM);
		return milter_pkt_send(sc);
	}
	case MP_DATA:
		milter_pkt_begin(&sc->pkt, MILTER_CMD_DATA);
		return milter_pkt_send(sc);
	case MP_EOH:
		milter_pkt_begin(&sc->pkt, MILTER_CMD_EOH);
		return milter_pkt_send(sc);
	default:
		return -1;
	}
}

/* Move to the next step (whether or not the filter takes it). */
static void
milter_step_next(struct milter_scan *sc)
{
	switch (sc->phase) {
	case MP_RCPT:
		if (++sc->idx < sc->env.nrcpts)
			return;
		break;
	case MP_HEADER:
		if (++sc->idx < sc->hdrs.n)
			return;
		break;
	case MP_BODY:
		if (sc->body_off < sc->env.size)
			return;
		break;
	default:
		break;
	}
	sc->phase++;
	sc->idx = 0;
	if ((sc->phase == MP_RCPT && sc->env.nrcpts == 0) || (sc->phase == MP_HEADER && sc->hdrs.n == 0))
		sc->phase++;
	if (sc->phase == MP_BODY) {
		sc->body_off = sc->hdrs.body;
		if (sc->body_off >= sc->env.size)
			sc->phase++;
	}
}

/* Send steps until one wants a reply. */
static void
milter_advance(struct milter_scan *sc)
{
	for (;;) {
		milter_step_next(sc);
		if (sc->phase == MP_DONE)
			return;
		if (sc->phase != MP_EOM && (sc->protocol & milter_phase_no[sc->phase])) {
			if (sc->phase == MP_BODY)
				sc->body_off = sc->env.size;
			continue;
		}
		if (milter_step_send(sc) < 0) {
			milter_fail(sc, "cannot send (a field too long, or the message unreadable)");
			return;
		}
		if (sc->phase == MP_EOM || !(sc->protocol & milter_phase_nr[sc->phase])) {
			sc->waiting = true;
			milter_timer_arm(sc, sc->milters[sc->cur]->timeout);
			return;
		}
	}
}

static int
milter_optneg_take(struct milter_scan *sc, const struct milter_reply *r)
{
	if (r->kind != MILTER_R_OPTNEG || r->version < 2 || r->version > MILTER_VERSION)
		return -1;
	if ((r->protocol & ~MILTER_P_OFFERED) != 0)
		return -1;   /* it wants a step ferry cannot give */
	sc->actions = r->actions & MILTER_ACTS_OFFERED;
	sc->protocol = r->protocol;
	return 0;
}

/* A header edit or quarantine at end of message, if its action was agreed. */
static int
milter_edit_take(struct milter_scan *sc, const struct milter_reply *r)
{
	struct milter_edit *e;
	double score;

	if (r->kind == MILTER_R_QUARANTINE) {
		if (!(sc->actions & MILTER_ACT_QUARANTINE))
			return -1;
		sc->quarantine = true;
		snprintf(sc->quarantine_reason, sizeof(sc->quarantine_reason), "%s", r->text);
		return 0;
	}
	if (!(sc->actions & (r->kind == MILTER_R_CHGHEADER ? MILTER_ACT_CHGHDRS : MILTER_ACT_ADDHDRS)))
		return -1;
	sc->edits = xrealloc(sc->edits, (sc->nedits + 1) * sizeof(*sc->edits));
	e = &sc->edits[sc->nedits++];
	e->kind = r->kind == MILTER_R_ADDHEADER ? MILTER_EDIT_ADD :
	    r->kind == MILTER_R_INSHEADER ? MILTER_EDIT_INSERT : MILTER_EDIT_CHANGE;
	e->index = r->index;
	e->name = xstrdup(r->name);
	e->value = xstrdup(r->value);
	if (milter_score_parse(r->name, r->value, &score)) {
		sc->scored = true;
		sc->score = score;
	}
	return 0;
}

/* A reply to the step in progress. */
static void
milter_reply_take(struct milter_scan *sc, const struct milter_reply *r)
{
	bool eom = sc->phase == MP_EOM;

	switch (r->kind) {
	case MILTER_R_PROGRESS:
		milter_timer_arm(sc, sc->milters[sc->cur]->timeout);
		return;
	case MILTER_R_ADDHEADER: case MILTER_R_INSHEADER: case MILTER_R_CHGHEADER: case MILTER_R_QUARANTINE:
		if (!eom || milter_edit_take(sc, r) < 0)
			milter_fail(sc, "a header edit or quarantine out of turn or not agreed");
		return;
	default:
		break;
	}
	sc->waiting = false;
	evtimer_del(sc->timer);
	switch (r->kind) {
	case MILTER_R_CONTINUE:
		if (eom)
			milter_filter_done(sc, "continue");
		else
			milter_advance(sc);
		return;
	case MILTER_R_SKIP:
		if (sc->phase != MP_BODY) {
			milter_fail(sc, "skip outside the body");
			return;
		}
		sc->body_off = sc->env.size;
		milter_advance(sc);
		return;
	case MILTER_R_ACCEPT:
		milter_filter_done(sc, "accept");
		return;
	case MILTER_R_REJECT:   milter_filter_final(sc, MILTER_V_REJECT, ""); return;
	case MILTER_R_TEMPFAIL: milter_filter_final(sc, MILTER_V_TEMPFAIL, ""); return;
	case MILTER_R_DISCARD:  milter_filter_final(sc, MILTER_V_DISCARD, ""); return;
	case MILTER_R_REPLYCODE:
		milter_filter_final(sc, r->code >= 500 ? MILTER_V_REJECT : MILTER_V_TEMPFAIL, r->text);
		return;
	default:
		milter_fail(sc, "a reply out of turn");
		return;
	}
}

/* One whole packet from the filter. */
static void
milter_packet_take(struct milter_scan *sc, const unsigned char *pkt, size_t len)
{
	struct milter_reply r;
	const char *why = NULL;

	if (!sc->waiting) {
		milter_fail(sc, "a reply nobody asked for");
		return;
	}
	if (milter_reply_decode(pkt, len, &r, &why) < 0) {
		milter_fail(sc, why);
		return;
	}
	if (sc->phase != MP_OPTNEG) {
		milter_reply_take(sc, &r);
		return;
	}
	sc->waiting = false;
	evtimer_del(sc->timer);
	if (milter_optneg_take(sc, &r) < 0) {
		milter_fail(sc, "option negotiation refused (version or protocol steps)");
		return;
	}
	milter_advance(sc);
}

static void
milter_read_cb(struct bufferevent *bev, void *arg)
{
	struct milter_scan *sc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	unsigned gen = sc->gen;

	/* each packet may end this filter's connection (or the scan): stop
	 * as soon as the connection is no longer this one */
	while (!sc->ended && sc->gen == gen) {
		unsigned char hdr[4];
		long len;
		if (evbuffer_copyout(in, hdr, 4) < 4)
			return;
		if ((len = milter_len_decode(hdr)) < 0) {
			milter_fail(sc, "packet length 0 or over the limit");
			return;
		}
		if (evbuffer_get_length(in) < 4 + (size_t)len)
			return;
		evbuffer_drain(in, 4);
		{
			unsigned char *pkt = xmalloc((size_t)len);
			evbuffer_remove(in, pkt, (size_t)len);
			milter_packet_take(sc, pkt, (size_t)len);
			free(pkt);
		}
	}
}

static void
milter_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct milter_scan *sc = arg;
	char why[128];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		evtimer_del(sc->timer);
		sc->phase = MP_OPTNEG;
		milter_pkt_begin(&sc->pkt, MILTER_CMD_OPTNEG);
		milter_pkt_u32(&sc->pkt, MILTER_VERSION);
		milter_pkt_u32(&sc->pkt, MILTER_ACTS_OFFERED);
		milter_pkt_u32(&sc->pkt, MILTER_P_OFFERED);
		if (milter_pkt_send(sc) < 0) {
			milter_fail(sc, "cannot send");
			return;
		}
		sc->waiting = true;
		milter_timer_arm(sc, sc->milters[sc->cur]->timeout);
		return;
	}
	if (what & BEV_EVENT_ERROR)
		snprintf(why, sizeof(why), "%s", strerror(errno ? errno : EIO));
	else
		snprintf(why, sizeof(why), "connection closed by the filter");
	milter_fail(sc, why);
}

static void
milter_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct milter_scan *sc = arg;

	(void)fd;
	(void)what;
	milter_fail(sc, sc->phase == MP_CONNECTING ? "connect timeout" : "timeout");
}

/* Connect to filter sc->cur, or finish when none is left. */
static void
milter_next_filter(struct milter_scan *sc)
{
	const struct conf_milter *m;

	if (sc->cur >= sc->n) {
		milter_scan_end(sc);
		return;
	}
	m = sc->milters[sc->cur];
	sc->phase = MP_CONNECTING;
	sc->waiting = false;
	sc->bev = bufferevent_socket_new(sc->base, -1, BEV_OPT_CLOSE_ON_FREE);
	sc->timer = evtimer_new(sc->base, milter_timer_cb, sc);
	bufferevent_setcb(sc->bev, milter_read_cb, NULL, milter_event_cb, sc);
	bufferevent_enable(sc->bev, EV_READ | EV_WRITE);
	milter_timer_arm(sc, m->connect_timeout);
	if (bufferevent_socket_connect(sc->bev, (const struct sockaddr *)&m->ss, (int)m->sslen) < 0)
		milter_fail(sc, "connect failed");
}

static void
milter_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct milter_scan *sc = arg;

	(void)fd;
	(void)what;
	if (!sc->hdrs_loaded) {
		sc->hdrs_loaded = true;
		if (milter_hdrs_load(&sc->hdrs, &sc->env) < 0) {
			/* the spool cannot be read back: not the filter's fault, and
			 * not something to accept unscanned */
			log_error("event=milter-failed sid=%llu id=%s milter=- action=tempfail reason=\"spool read\"",
			    sc->env.sid, sc->env.queue_id);
			sc->res.verdict = MILTER_V_TEMPFAIL;
			sc->res.failed = true;
			milter_scan_end(sc);
			return;
		}
	}
	milter_next_filter(sc);
}

struct milter_scan *
milter_scan_start(struct event_base *base, const struct conf_milter *const *milters, size_t n,
    const struct milter_env *env, milter_done_cb cb, void *arg)
{
	struct milter_scan *sc = xcalloc(1, sizeof(*sc));

	sc->base = base;
	sc->milters = xcalloc(n ? n : 1, sizeof(*sc->milters));
	memcpy(sc->milters, milters, n * sizeof(*milters));
	sc->n = n;
	sc->env = *env;
	sc->cb = cb;
	sc->cb_arg = arg;
	sc->res.verdict = MILTER_V_ACCEPT;
	sc->kick = event_new(base, -1, 0, milter_kick_cb, sc);
	sc->reaper = event_new(base, -1, 0, milter_reaper_cb, sc);
	event_active(sc->kick, 0, 0);
	return sc;
}

/* "[2.50 / 15.00]" (X-Spamd-Result), "2.50" (X-Rspamd-Score, X-Spam-Score),
 * "Yes, score=2.5 required=5" (X-Spam-Status). */
bool
milter_score_parse(const char *name, const char *value, double *score)
{
	const char *p = NULL;
	char *end;
	double v;

	if (strcasecmp(name, "X-Spamd-Result") == 0)
		p = strchr(value, '[');
	else if (strcasecmp(name, "X-Rspamd-Score") == 0 || strcasecmp(name, "X-Spam-Score") == 0)
		p = value - 1;
	else if (strcasecmp(name, "X-Spam-Status") == 0 && (p = strstr(value, "score=")) != NULL)
		p += 5;
	if (p == NULL)
		return false;
	v = strtod(p + 1, &end);
	if (end == p + 1 || !isfinite(v))
		return false;
	*score = v;
	return true;
}
