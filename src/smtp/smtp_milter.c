/*
 * smtp_milter.c - content filters at the end of DATA: the complete message
 * is in its spool file (not yet committed); the filters of the listener
 * (listen ... milters=) and, for a tenant's message, tenant_milters see it
 * (src/milter/), then their verdict decides the reply: 550 5.7.1, 451 4.7.1,
 * 250 and dropped (discard), or a commit into queue/ or hold/ (quarantine)
 * with their header edits applied. A tenant's message refused as spam (a
 * reject by a filter configured spam=yes) follows the tenant's spam_action
 * (reject, hold, header); any other filter's reject is a final 550.
 * STANDARDS: RFC 3463 enhanced codes (5.7.1, 4.7.1).
 * SECURITY: no 250 before the commit is durable; a header edit is applied
 * by writing a fresh spool file (new queue id) and dropping the old one,
 * so a failure at any point leaves the old file to be aborted and the
 * client told 451: nothing accepted is lost.
 */
#include "smtp/smtp_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "milter/milter.h"
#include "reputation/rep.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define SMTP_MILTERS_MAX 16

/* What a scan needs beyond the session: the recipients as C strings. */
struct smtp_milter_ctx {
	struct smtp_session *s;
	const char         **rcpts;
};

static long
smtp_milter_read(void *arg, uint64_t off, void *buf, size_t len)
{
	return spool_msg_content_read(arg, off, buf, len);
}

/* The listener's filters, then tenant_milters for a tenant's message
 * (each filter once). */
static size_t
smtp_milters_pick(const struct smtp_session *s, const struct conf_milter **out)
{
	const struct conf *c = s->conf;
	size_t n = 0;

	if (s->listener < c->nlisteners)
		for (size_t i = 0; i < c->listeners[s->listener].nmilters && n < SMTP_MILTERS_MAX; i++)
			out[n++] = c->listeners[s->listener].milters[i];
	if (s->tx.as_tenant)
		for (size_t i = 0; i < c->ntenant_milters && n < SMTP_MILTERS_MAX; i++) {
			bool dup = false;
			for (size_t j = 0; j < n; j++)
				dup |= out[j] == c->tenant_milters[i];
			if (!dup)
				out[n++] = c->tenant_milters[i];
		}
	return n;
}

static int
smtp_milter_family(const struct smtp_session *s)
{
	return s->peer.ss_family;
}

static unsigned
smtp_milter_port(const struct smtp_session *s)
{
	if (s->peer.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&s->peer)->sin_port);
	if (s->peer.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&s->peer)->sin6_port);
	return 0;
}

static void smtp_milter_done(void *arg, const struct milter_result *r);

bool
smtp_milter_start(struct smtp_session *s)
{
	const struct conf_milter *m[SMTP_MILTERS_MAX];
	struct smtp_tx *tx = &s->tx;
	size_t n = smtp_milters_pick(s, m);
	struct smtp_milter_ctx *ctx;
	struct milter_env env;

	if (n == 0)
		return false;
	ctx = xcalloc(1, sizeof(*ctx));
	ctx->s = s;
	ctx->rcpts = xcalloc(tx->nrcpts ? tx->nrcpts : 1, sizeof(*ctx->rcpts));
	for (size_t i = 0; i < tx->nrcpts; i++)
		ctx->rcpts[i] = tx->rcpts[i].path.addr;
	env = (struct milter_env){
		.sid = s->sid, .queue_id = tx->id, .hostname = s->conf->hostname,
		.client_addr = s->addr, .client_family = smtp_milter_family(s),
		.client_port = smtp_milter_port(s), .helo = s->helo, .auth_user = s->auth_user,
		.sender = tx->sender.addr, .rcpts = ctx->rcpts, .nrcpts = tx->nrcpts,
		.read = smtp_milter_read, .read_arg = tx->msg, .size = spool_msg_content_size(tx->msg),
	};
	s->state = SMTP_ST_WAIT;
	smtp_timeouts_set(s);
	s->pending++;
	milter_scan_start(s->worker->base, m, n, &env, smtp_milter_done, ctx);
	return true;
}

/* "554 5.7.1 Spam message rejected" -> "Spam message rejected": the
 * filter's words under ferry's own code. */
static const char *
smtp_milter_text(const char *reply)
{
	const char *p = reply;

	if (strlen(p) >= 3)
		p += 3;
	while (*p == ' ' || *p == '-')
		p++;
	if (p[0] >= '2' && p[0] <= '5' && p[1] == '.') {
		p += strcspn(p, " ");
		while (*p == ' ')
			p++;
	}
	return p;
}

static int
smtp_milter_write(void *arg, const void *buf, size_t len)
{
	return spool_msg_write(arg, buf, len);
}

/* Copy content [from, size) of old into the transaction's new file. */
static int
smtp_milter_copy(struct spool_msg *old, uint64_t from, struct spool_msg *to)
{
	uint64_t size = spool_msg_content_size(old);
	char *buf = xmalloc(65536);
	int rc = 0;

	while (from < size && rc == 0) {
		long n = spool_msg_content_read(old, from, buf, 65536);
		if (n <= 0)
			rc = -1;
		else {
			rc = spool_msg_write(to, buf, (size_t)n);
			from += (uint64_t)n;
		}
	}
	free(buf);
	return rc;
}

/* Apply the edits by writing the message again under a new id (its
 * Received: and X-Ferry-Ref: headers, written anew, name the new id); 0, or -1 with the old file kept
 * in tx->msg for the caller to abort. */
static int
smtp_milter_rewrite(struct smtp_session *s, const struct milter_edit *e, size_t ne)
{
	struct smtp_tx *tx = &s->tx;
	struct spool_msg *old = tx->msg;
	char old_id[SPOOL_ID_LEN + 1];
	struct milter_env env = { .read = smtp_milter_read, .read_arg = old,
		.size = spool_msg_content_size(old) };
	struct milter_hdrs h;
	size_t old_prepended = tx->prepended;
	int rc = -1;

	memcpy(old_id, tx->id, sizeof(old_id));
	if (milter_hdrs_load(&h, &env) < 0)
		return -1;
	tx->msg = NULL;
	if (smtp_msg_start(s) &&
	    milter_hdrs_write(&h, e, ne, old_prepended, smtp_milter_write, tx->msg) == 0 &&
	    smtp_milter_copy(old, h.end, tx->msg) == 0)
		rc = 0;
	milter_hdrs_free(&h);
	if (rc < 0) {
		if (tx->msg != NULL)
			spool_msg_abort(tx->msg);
		tx->msg = old;
		tx->prepended = old_prepended;
		memcpy(tx->id, old_id, sizeof(old_id));
		return -1;
	}
	log_info("event=milter-rewrite sid=%llu id=%s new_id=%s edits=%zu", s->sid, old_id, tx->id, ne);
	spool_msg_abort(old);
	return 0;
}

/* What the tenant wants done with its message refused as spam. */
static enum state_spam_action
smtp_milter_spam_action(struct smtp_session *s)
{
	enum state_spam_action a = STATE_SPAM_REJECT;

	if (!s->tx.as_tenant || s->h->state == NULL)
		return STATE_SPAM_REJECT;
	if (state_tenant_spam_action(s->h->state, s->ident.tenant_id, &a) < 0)
		log_error("event=state-error sid=%llu what=spam_action action=reject", s->sid);
	return a;
}

/* The reply that refuses the message, in buf; NULL: it goes on. */
static const char *
smtp_milter_refusal(struct smtp_session *s, const struct milter_result *r, char *buf, size_t bufsz)
{
	const char *t = smtp_milter_text(r->reply);

	if (r->verdict == MILTER_V_TEMPFAIL) {
		snprintf(buf, bufsz, "451 4.7.1 %s", r->failed ? "Error: content scan unavailable, try again later" :
		    t[0] != '\0' ? t : "Error: message content deferred by a filter");
		return buf;
	}
	if (r->verdict == MILTER_V_REJECT) {
		snprintf(buf, bufsz, "550 5.7.1 %s", t[0] != '\0' ? t : "Error: message content rejected");
		return buf;
	}
	(void)s;
	return NULL;
}

static void
smtp_milter_log_spam(struct smtp_session *s, const struct milter_result *r, const char *action)
{
	char score[32] = "-";

	if (r->scored)
		snprintf(score, sizeof(score), "%.2f", r->score);
	log_info("event=milter-spam sid=%llu id=%s tenant=%s milter=%s score=%s action=%s", s->sid, s->tx.id,
	    s->ident.tenant, r->milter, score, action);
}

/* A tenant's message refused as spam: its spam_action may keep it. The
 * edits to apply grow by X-Ferry-Spam for "header". true: it goes on. */
static bool
smtp_milter_tenant_spam(struct smtp_session *s, const struct milter_result *r, struct milter_edit *extra)
{
	enum state_spam_action a = smtp_milter_spam_action(s);
	static char name[] = "X-Ferry-Spam";
	char score[32] = "unknown";

	smtp_milter_log_spam(s, r, state_spam_action_name(a));
	if (a == STATE_SPAM_HOLD) {
		snprintf(s->tx.hold_reason, sizeof(s->tx.hold_reason), "spam (milter %s, score %s)", r->milter,
		    r->scored ? (snprintf(score, sizeof(score), "%.2f", r->score), score) : "unknown");
		return true;
	}
	if (a == STATE_SPAM_HEADER) {
		if (r->scored)
			snprintf(score, sizeof(score), "%.2f", r->score);
		extra->kind = MILTER_EDIT_ADD;
		extra->name = name;
		extra->value = xmalloc(64);
		snprintf(extra->value, 64, "yes; score=%s", score);
		return true;
	}
	return false;
}

/* The verdict is to keep the message: edits, quarantine, commit. */
static void
smtp_milter_keep(struct smtp_session *s, const struct milter_result *r, struct milter_edit *extra)
{
	struct smtp_tx *tx = &s->tx;
	size_t ne = r->nedits + (extra->name != NULL);
	struct milter_edit *e = xcalloc(ne ? ne : 1, sizeof(*e));

	if (r->nedits > 0)
		memcpy(e, r->edits, r->nedits * sizeof(*e));
	if (extra->name != NULL)
		e[r->nedits] = *extra;
	if (r->quarantine && tx->hold_reason[0] == '\0')
		snprintf(tx->hold_reason, sizeof(tx->hold_reason), "quarantine (milter %.40s): %.60s", r->milter,
		    r->quarantine_reason);
	if (ne > 0 && smtp_milter_rewrite(s, e, ne) < 0) {
		free(e);
		smtp_tenant_commit_failed(s);
		smtp_tx_refuse(s, "message-refused", "451 4.3.0 Error: queue file write error");
		smtp_tx_reset(s);
		return;
	}
	free(e);
	smtp_content_commit(s);
}

/* A tenant's scanned message feeds its reputation windows (rep.h):
 * scanned, judged spam, and the score (x100) when the filter gave one. */
static void
smtp_milter_rep_note(struct smtp_session *s)
{
	const struct smtp_tx *tx = &s->tx;
	time_t now = time(NULL);

	if (!tx->as_tenant || !tx->scanned || s->h->rep == NULL)
		return;
	rep_note(s->h->rep, s->ident.tenant_id, REP_SCANNED, 1, now);
	if (tx->spam)
		rep_note(s->h->rep, s->ident.tenant_id, REP_SPAM, 1, now);
	if (tx->scored && tx->score > 0)
		rep_note(s->h->rep, s->ident.tenant_id, REP_SCORE, (long long)(tx->score * 100.0 + 0.5), now);
}

static void
smtp_milter_verdict(struct smtp_session *s, const struct milter_result *r)
{
	struct smtp_tx *tx = &s->tx;
	struct milter_edit extra = { 0 };
	char buf[MILTER_TEXT_MAX + 32];
	const char *refusal;

	tx->scanned = !r->failed;
	tx->spam = r->verdict == MILTER_V_REJECT && r->spam;
	tx->scored = r->scored;
	tx->score = r->score;
	smtp_milter_rep_note(s);
	if (r->verdict == MILTER_V_DISCARD) {
		log_info("event=milter-discard sid=%llu id=%s milter=%s", s->sid, tx->id, r->milter);
		smtp_reply(s, "250 2.0.0 Ok: discarded by a content filter");
		smtp_events_suppressed(s);   /* accepted: its dropped recipients too */
		smtp_tx_reset(s);
		return;
	}
	if (tx->spam && tx->as_tenant && smtp_milter_tenant_spam(s, r, &extra)) {
		smtp_milter_keep(s, r, &extra);
		free(extra.value);
		return;
	}
	if ((refusal = smtp_milter_refusal(s, r, buf, sizeof(buf))) != NULL) {
		smtp_tenant_commit_failed(s);      /* not accepted: its rate windows given back */
		smtp_tx_refuse(s, "message-refused", refusal);
		smtp_tx_reset(s);
		return;
	}
	smtp_milter_keep(s, r, &extra);
}

/* The scan ended (on the session's loop). */
static void
smtp_milter_done(void *arg, const struct milter_result *r)
{
	struct smtp_milter_ctx *ctx = arg;
	struct smtp_session *s = ctx->s;

	free(ctx->rcpts);
	free(ctx);
	s->pending--;
	if (s->closed || s->state == SMTP_ST_CLOSING) {
		/* nobody is left to tell: no commit without a 250 (the client
		 * retries); the reset aborts the spool file */
		log_info("event=milter-abandoned sid=%llu id=%s reason=\"session closing\"", s->sid, s->tx.id);
		smtp_tenant_commit_failed(s);
		smtp_tx_reset(s);
		smtp_session_release(s);
		return;
	}
	s->state = SMTP_ST_COMMAND;
	smtp_timeouts_set(s);
	smtp_milter_verdict(s, r);
	if (!s->closed && s->state == SMTP_ST_COMMAND)
		smtp_input_process(s);
	smtp_session_release(s);
}
