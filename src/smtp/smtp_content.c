/*
 * smtp_content.c - message content: DATA and BDAT, the spool file with its
 * envelope and Received: header, and the final reply after the commit.
 * STANDARDS: RFC 5321 4.1.1.4 DATA, 4.4 trace information; RFC 3030
 * CHUNKING; RFC 3848 / 6531 "with" keywords; RFC 1870 SIZE.
 * SECURITY: the final 250 is sent only from smtp_commit_result, i.e. after
 * the committer made the message durable. BDAT octets are always consumed,
 * even for a refused chunk, so the command stream stays in sync.
 */
#include "smtp/smtp_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics/metrics.h"
#include "reputation/rep.h"
#include "util/log.h"

static int
smtp_content_sink(void *arg, const char *buf, size_t len)
{
	struct smtp_session *s = arg;
	struct smtp_tx *tx = &s->tx;

	if (tx->too_big || tx->msg == NULL)
		return 0;
	smtp_tenant_header_capture(s, buf, len);
	if (tx->reader.out_bytes + len > (uint64_t)s->conf->max_message_size) {
		tx->too_big = true;
		return 0;
	}
	return spool_msg_write(tx->msg, buf, len);
}

static void
smtp_rfc5322_date(char *out, size_t outsz)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, outsz, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* RFC 5321 4.4 trace header; "for" only with a single recipient, so a
 * message to many does not disclose the others. */
static int
smtp_received_write(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;
	char hdr[2048], date[64];
	bool v6 = s->peer.ss_family == AF_INET6;
	int n;

	smtp_rfc5322_date(date, sizeof(date));
	n = snprintf(hdr, sizeof(hdr), "Received: from %s (unknown [%s%s])\r\n"
	    "\tby %s (ferry) with %s id %s",
	    s->helo, v6 ? "IPv6:" : "", s->addr, s->conf->hostname, smtp_proto_name(s), tx->id);
	if (s->tls)
		n += snprintf(hdr + n, sizeof(hdr) - n, "\r\n\t(using %s)", s->tls_info);
	if (tx->nrcpts == 1)
		n += snprintf(hdr + n, sizeof(hdr) - n, "\r\n\tfor <%s>", tx->rcpts[0].path.addr);
	n += snprintf(hdr + n, sizeof(hdr) - n, "; %s\r\n", date);
	if (n <= 0 || (size_t)n >= sizeof(hdr))
		return -1;
	tx->prepended++;
	return spool_msg_write(tx->msg, hdr, (size_t)n);
}

/* A tenant's message carries "X-Ferry-Ref: TOKEN" (verp.h): a complaint
 * whose report keeps the headers but not the return path still names its
 * tenant and message. It names recipient 0 (exact for one recipient). */
static int
smtp_ref_write(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;
	char hdr[VERP_LOCAL_MAX + 32];
	int n;

	if (!tx->as_tenant || tx->kind == SMTP_TX_RETURN_PATH || s->h->state == NULL)
		return 0;
	n = tenant_send_ref_header(s->h->state, s->ident.tenant_id, tx->id,
	    tx->nrcpts == 1 ? tx->rcpts[0].path.addr : NULL, hdr, sizeof(hdr));
	if (n < 0) {
		log_warn("event=ref-header-skipped sid=%llu id=%s reason=\"state database unavailable\"", s->sid, tx->id);
		return 0;
	}
	tx->prepended++;
	return spool_msg_write(tx->msg, hdr, (size_t)n);
}

static int
smtp_envelope_write(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;
	struct spool_msg *m = tx->msg;
	const struct conf_listener *l = s->listener < s->conf->nlisteners ?
	    &s->conf->listeners[s->listener] : NULL;
	int rc = 0;

	rc |= spool_rec_num(m, SPOOL_REC_TIME, (long long)time(NULL));
	rc |= spool_rec_put(m, SPOOL_REC_SENDER, tx->sender.addr, tx->sender.len);
	for (size_t i = 0; i < tx->nrcpts; i++) {
		const struct smtp_rcpt *r = &tx->rcpts[i];
		rc |= spool_rec_rcpt(m, r->path.addr, r->path.len, r->params.notify,
		    r->params.has_orcpt ? r->params.orcpt : NULL);
	}
	rc |= spool_rec_str(m, SPOOL_REC_ENVID, tx->params.has_envid ? tx->params.envid : NULL);
	rc |= spool_rec_str(m, SPOOL_REC_RET, smtp_ret_name(tx->params.ret));
	rc |= spool_rec_str(m, SPOOL_REC_BODY, smtp_body_name(tx->params.body));
	rc |= spool_rec_str(m, SPOOL_REC_SMTPUTF8, tx->params.smtputf8 ? "1" : NULL);
	rc |= spool_rec_str(m, SPOOL_REC_AUTH, s->auth_user);
	rc |= spool_rec_str(m, SPOOL_REC_CLIENT, s->addr);
	rc |= spool_rec_str(m, SPOOL_REC_HELO, s->helo);
	rc |= spool_rec_str(m, SPOOL_REC_CLIENT_NAME, "unknown");
	rc |= spool_rec_str(m, SPOOL_REC_TLS, s->tls ? s->tls_info : NULL);
	rc |= spool_rec_str(m, SPOOL_REC_PROTO, smtp_proto_name(s));
	rc |= spool_rec_str(m, SPOOL_REC_ROLE, conf_role_name(s->role));
	rc |= spool_rec_put(m, SPOOL_REC_WARN_DUE, "", 0);
	rc |= spool_rec_str(m, SPOOL_REC_SOURCE, l != NULL ? l->source : NULL);
	if (tx->kind == SMTP_TX_RETURN_PATH)
		rc |= spool_rec_str(m, SPOOL_REC_REPORT, "1");
	else if (s->tx.as_tenant) {
		rc |= spool_rec_num(m, SPOOL_REC_TENANT, s->ident.tenant_id);
		rc |= spool_rec_str(m, SPOOL_REC_POOL, s->ident.pool[0] != '\0' ? s->ident.pool : NULL);
	}
	return rc;
}

/* A new spool file with the envelope, the content record begun and the
 * Received: header written (tx->msg, tx->id); false on failure, logged. */
bool
smtp_msg_start(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;

	tx->prepended = 0;
	tx->msg = spool_msg_create(s->h->spool, tx->id);
	if (tx->msg == NULL) {
		log_error("event=spool-error sid=%llu error=\"%s\"", s->sid, strerror(errno));
		return false;
	}
	if (smtp_envelope_write(s) != 0 || spool_msg_content_begin(tx->msg) != 0 ||
	    smtp_received_write(s) != 0 || smtp_ref_write(s) != 0) {
		log_error("event=spool-error sid=%llu id=%s error=\"write failed\"", s->sid, tx->id);
		spool_msg_abort(tx->msg);
		tx->msg = NULL;
		return false;
	}
	return true;
}

/* Open the spool file and write everything known before the content. */
static bool
smtp_msg_open(struct smtp_session *s, bool dot_mode)
{
	struct smtp_tx *tx = &s->tx;
	struct smtp_data_opts o = {
		.reject_bare_lf = s->conf->reject_bare_lf,
		.reject_nul = false,
		.max_line = (size_t)s->conf->max_line_length,
	};

	if (!smtp_msg_start(s))
		return false;
	smtp_data_init(&tx->reader, &o, dot_mode, smtp_content_sink, s);
	return true;
}

void
smtp_cmd_data(struct smtp_session *s, const char *arg, size_t len)
{
	struct smtp_tx *tx = &s->tx;

	(void)arg;
	if (len > 0)
		smtp_tx_refuse(s, "data-refused", "501 5.5.4 Syntax: DATA");
	else if (!tx->active)
		smtp_tx_refuse(s, "data-refused", "503 5.5.1 Error: need MAIL command");
	else if (tx->bdat)
		smtp_tx_refuse(s, "data-refused", "503 5.5.1 Error: DATA in a BDAT transaction");
	else if (tx->nrcpts + tx->ndropped == 0)
		smtp_tx_refuse(s, "data-refused", "554 5.5.1 Error: no valid recipients");
	else if (!smtp_msg_open(s, true)) {
		smtp_tx_refuse(s, "data-refused", "451 4.3.0 Error: queue file write error");
		smtp_tx_reset(s);
	} else {
		s->state = SMTP_ST_DATA;
		smtp_timeouts_set(s);
		smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	}
}

static void
smtp_commit_done_cb(void *arg, int error)
{
	struct smtp_session *s = arg;

	/* Committer thread: hand the result to the session's own thread. */
	s->async_kind = 1;
	s->async_result = error;
	event_active(s->async_ev, 0, 0);
}

/* Why the content cannot be accepted, or NULL. */
static const char *
smtp_content_verdict(struct smtp_session *s, char *buf, size_t bufsz)
{
	struct smtp_tx *tx = &s->tx;
	unsigned e = tx->reader.errors;

	if (tx->too_big)
		return "552 5.3.4 Error: message file too big";
	if (e & SMTP_DATA_ERR_BARE_CR)
		return "550 5.5.2 Error: bare <CR> received";
	if (e & SMTP_DATA_ERR_BARE_LF)
		return "550 5.5.2 Error: bare <LF> received";
	if (e & SMTP_DATA_ERR_LONG_LINE) {
		snprintf(buf, bufsz, "550 5.5.2 Error: message line longer than %lld octets",
		    s->conf->max_line_length);
		return buf;
	}
	if (e & SMTP_DATA_ERR_NUL)
		return "550 5.6.0 Error: NUL character in message";
	if (tx->reader.write_failed)
		return "451 4.3.0 Error: queue file write error";
	return NULL;
}

/* A client that gets a message accepted is not a nuisance: its refusals
 * and junk commands count again from zero, as in Postfix, so a long
 * session of good messages with a NOOP or RSET before each runs on. */
static void
smtp_strikes_clear(struct smtp_session *s)
{
	s->strikes = 0;
	s->njunk = 0;
}

/* A transaction of return-path tokens: attributed (table bounces), then
 * queued as a report (spool record 'r') that delivery reads for the
 * feedback loop; the 250 comes once it is durable, as for any message. */
static void
smtp_return_path_end(struct smtp_session *s)
{
	/* a report is never the tenant's mail: not held for its review */
	s->tx.hold_reason[0] = '\0';
	s->tx.hold_review = false;
	if (smtp_return_path_record(s) != 0) {
		smtp_tx_refuse(s, "message-refused",
		    "451 4.3.0 Error: cannot record the report, try again later");
		smtp_tx_reset(s);
		return;
	}
	smtp_content_commit(s);
}

/* The whole message is in: refuse it or hand it to the committer. */
static void
smtp_content_end(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;
	char buf[512];
	const char *err = smtp_content_verdict(s, buf, sizeof(buf));

	s->state = SMTP_ST_COMMAND;
	smtp_timeouts_set(s);
	if (err == NULL && tx->kind == SMTP_TX_RETURN_PATH) {
		smtp_return_path_end(s);
		return;
	}
	if (err == NULL)
		err = smtp_tenant_content_check(s, buf, sizeof(buf));
	if (err != NULL) {
		smtp_tx_refuse(s, "message-refused", err);
		smtp_tx_reset(s);
		return;
	}
	if (tx->nrcpts == 0) {
		smtp_suppress_msg_drop(s);   /* every recipient was a dropped suppressed one */
		return;
	}
	/* the filters' verdict comes back in smtp_milter.c, which commits */
	if (!smtp_milter_start(s))
		smtp_content_commit(s);
}

void
smtp_content_commit(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;
	struct spool_msg *m = tx->msg;

	s->state = SMTP_ST_WAIT;
	smtp_timeouts_set(s);      /* the server's turn: no idle timeout (smtp_async_cb re-arms) */
	s->pending++;
	tx->msg = NULL;   /* the spool owns it now */
	if (tx->hold_reason[0] != '\0')
		spool_msg_hold(m, tx->hold_reason);
	spool_msg_commit(m, smtp_commit_done_cb, s);
}

void
smtp_commit_result(struct smtp_session *s, int error)
{
	struct smtp_tx *tx = &s->tx;
	char q[300];

	if (s->state != SMTP_ST_CLOSING)    /* a 421 already said goodbye: stay closing */
		s->state = SMTP_ST_COMMAND;
	if (error != 0) {
		/* Not durable: never 250. The reason was logged by the spool;
		 * this line ties it to the session. */
		smtp_tenant_commit_failed(s);
		smtp_tx_refuse(s, "message-refused", "451 4.3.0 Error: queue file write error");
	} else {
		s->nqueued++;
		smtp_strikes_clear(s);
		metrics_smtp_transaction(metrics_now_us() - tx->started_us);
		log_info("event=queued sid=%llu client=%s id=%s from=%s nrcpt=%zu dropped=%zu size=%" PRIu64
		    " proto=%s tls=%s auth=%s tenant=%s", s->sid, s->addr, tx->id,
		    log_quote(q, sizeof(q), tx->sender.addr, tx->sender.len), tx->nrcpts, tx->ndropped,
		    tx->reader.out_bytes, smtp_proto_name(s), s->tls ? "yes" : "no",
		    s->auth_user ? "yes" : "no", tx->as_tenant ? s->ident.tenant : "-");
		if (tx->as_tenant && tx->kind != SMTP_TX_RETURN_PATH && s->h->rep != NULL)
			rep_note(s->h->rep, s->ident.tenant_id, REP_SENT, (long long)tx->nrcpts, time(NULL));
		if (tx->hold_reason[0] != '\0')
			log_info("event=held id=%s tenant=%s reason=%s", tx->id, tx->as_tenant ? s->ident.tenant : "-",
			    log_quote(q, sizeof(q), tx->hold_reason, strlen(tx->hold_reason)));
		smtp_reply(s, "250 2.0.0 Ok: queued as %s", tx->id);
		smtp_events_queued(s);
		if (tx->nrcpts > 0)
			tenant_send_queued(s->h->qmgr, tx->id, tx->as_tenant ? s->ident.tenant_id : 0,
			    tx->rcpts[0].path.addr, tx->hold_reason, tx->hold_review);
	}
	smtp_tx_reset(s);
}

static void
smtp_bdat_chunk_end(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;

	s->state = SMTP_ST_COMMAND;
	smtp_timeouts_set(s);
	if (tx->bdat_failed) {
		const char *err = tx->bdat_error;
		/* A refused chunk ends the transaction (RFC 3030 4.2: the client
		 * must RSET); the reset also clears the chunk state. */
		smtp_tx_refuse(s, "message-refused", err);
		smtp_tx_reset(s);
	} else if (tx->bdat_last) {
		smtp_data_finish(&tx->reader);
		smtp_content_end(s);
	} else if (tx->too_big) {
		smtp_content_end(s);   /* refuses with 552 and resets */
	} else
		smtp_reply(s, "250 2.0.0 Ok: %" PRIu64 " octets received", tx->reader.out_bytes);
}

/* Why this BDAT chunk must be refused (its octets are still read). */
static const char *
smtp_bdat_refusal(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;

	if (!s->esmtp)
		return "503 5.5.1 Error: send EHLO first";
	if (!tx->active)
		return "503 5.5.1 Error: need MAIL command";
	if (tx->nrcpts + tx->ndropped == 0)
		return "554 5.5.1 Error: no valid recipients";
	if (tx->msg == NULL && !smtp_msg_open(s, false))
		return "451 4.3.0 Error: queue file write error";
	return NULL;
}

void
smtp_cmd_bdat(struct smtp_session *s, const char *arg, size_t len)
{
	struct smtp_tx *tx = &s->tx;
	uint64_t size;
	bool last;
	const char *err = smtp_bdat_parse(arg, len, &size, &last);

	if (err != NULL) {
		/* Without a valid size the rest of the stream cannot be framed. */
		smtp_reply(s, "%s", err);
		smtp_close_after_reply(s);
		return;
	}
	err = smtp_bdat_refusal(s);
	tx->bdat_failed = err != NULL;
	tx->bdat_error = err;
	tx->bdat = true;
	tx->bdat_left = size;
	tx->bdat_last = last;
	s->state = SMTP_ST_BDAT;
	smtp_timeouts_set(s);
	if (size == 0)
		smtp_bdat_chunk_end(s);
}

size_t
smtp_content_feed(struct smtp_session *s, const char *buf, size_t len)
{
	struct smtp_tx *tx = &s->tx;
	bool done = false;
	size_t n;

	if (s->state == SMTP_ST_DATA) {
		n = smtp_data_feed(&tx->reader, buf, len, &done);
		if (done)
			smtp_content_end(s);
		return n;
	}
	n = len < tx->bdat_left ? len : (size_t)tx->bdat_left;
	if (!tx->bdat_failed)
		smtp_data_feed(&tx->reader, buf, n, &done);
	tx->bdat_left -= n;
	if (tx->bdat_left == 0)
		smtp_bdat_chunk_end(s);
	return n;
}
