/*
 * feedback_report.c - a report that reached a tenant's return path
 * ("b+TOKEN@<bounce domain>", verp.h) or complaint address
 * ("<complaint_local_part>@<bounce domain>") and waits in the queue: read
 * it (report.h), tie it to tenant, message and recipient, and apply it:
 * a bounce per failed recipient, a complaint, an auto-reply (nothing to
 * suppress), or an unrecognised report (recorded, nothing else).
 * STANDARDS: RFC 3464 (DSN), RFC 5965 (ARF), RFC 3834 (auto-replies).
 * SECURITY: the report is anyone's text. A token is checked again here
 * (HMAC) and names one recipient, so one report applies at most one
 * bounce per token: a recipient holding its own return path cannot
 * suppress other addresses; a repeated report of the same recipient counts
 * once. What reaches the (public) complaint address counts only when the
 * original message it carries holds a genuine token of the bounce
 * domain's own tenant (return path or X-Ferry-Ref:).
 */
#include "feedback/feedback.h"

#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "events/outbox.h"
#include "feedback/report.h"
#include "reputation/rep.h"
#include "spool/spool_env.h"
#include "state/events.h"
#include "state/state.h"
#include "state/suppress.h"
#include "state/verp.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define FEEDBACK_REPORT_MAX (16 * 1024 * 1024)   /* octets of a report read and parsed */

/* Who a report recipient speaks for. */
struct fb_target {
	struct state_tenant t;
	struct verp_info    vi;          /* queue_id "" when the message is unknown */
	bool                complaint;   /* the complaint address, not a token */
};

/* Read the report's content (at most FEEDBACK_REPORT_MAX octets) after a
 * Return-Path: header of its envelope sender, as a final delivery would
 * add (the parser takes <> as one sign of a mailer daemon's report). */
static char *
fb_content_read(const struct spool_env *env, int fd, size_t *len)
{
	size_t n = env->content_len < FEEDBACK_REPORT_MAX ? (size_t)env->content_len : FEEDBACK_REPORT_MAX;
	size_t slen = strnlen(env->sender, 400);
	char *buf = xmalloc(n + slen + 20);
	int hl = snprintf(buf, slen + 20, "Return-Path: <%.*s>\r\n", (int)slen, env->sender);
	size_t got = 0;

	buf += hl;
	while (got < n) {
		ssize_t r = pread(fd, buf + got, n - got, env->content_off + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r == 0 ? EIO : errno;     /* a short file is an I/O error too */
			free(buf - hl);
			errno = e;
			return NULL;
		}
		got += (size_t)r;
	}
	buf[n] = '\0';
	*len = n + (size_t)hl;
	return buf - hl;
}

/* The recipient's tenant and token: 1, 0 when it is neither a token nor a
 * complaint address of a bounce domain (any more), -1 database error. */
static int
fb_target_of(const struct feedback *f, const unsigned char secret[32], const char *addr, struct fb_target *tg)
{
	const char *at = strrchr(addr, '@');
	char domain[STATE_DOMAIN_MAX + 1];
	size_t llen, n = 0;
	int rc;

	memset(tg, 0, sizeof(*tg));
	if (at == NULL)
		return 0;
	llen = (size_t)(at - addr);
	/* as at RCPT (smtp_path_domain_lower): lowercase, no trailing dot */
	for (const char *p = at + 1; *p != '\0' && n < sizeof(domain) - 1; p++)
		domain[n++] = (char)tolower((unsigned char)*p);
	if (n > 0 && domain[n - 1] == '.')
		n--;
	domain[n] = '\0';
	rc = state_tenant_by_bounce_domain(f->st, domain, &tg->t);
	if (rc <= 0)
		return rc;
	if (verp_local_check(secret, addr, llen, &tg->vi))
		return tg->vi.tenant_id == tg->t.id ? 1 : 0;
	if (f->complaint_local != NULL && strlen(f->complaint_local) == llen &&
	    strncasecmp(addr, f->complaint_local, llen) == 0) {
		tg->complaint = true;
		tg->vi.tenant_id = tg->t.id;
		return 1;
	}
	return 0;
}

/* A complaint address names no message: the original in the report may,
 * by its return path or its X-Ferry-Ref: header (same tenant only). */
static void
fb_target_from_original(const unsigned char secret[32], const struct report *r, struct fb_target *tg)
{
	struct verp_info vi;
	const char *rp = r->orig_return_path, *at = strrchr(rp, '@');

	if (tg->vi.queue_id[0] != '\0')
		return;
	if (at != NULL && verp_local_check(secret, rp, (size_t)(at - rp), &vi) && vi.tenant_id == tg->t.id)
		tg->vi = vi;
	else if (r->orig_ref[0] != '\0' && verp_ref_check(secret, r->orig_ref, strlen(r->orig_ref), &vi) &&
	    vi.tenant_id == tg->t.id)
		tg->vi = vi;
}

static void
fb_qid_upper(const struct verp_info *vi, char out[17])
{
	size_t k;

	for (k = 0; k < 16 && vi->queue_id[k] != '\0'; k++)
		out[k] = (char)toupper((unsigned char)vi->queue_id[k]);
	out[k] = '\0';
}

static bool
fb_action_failed(const struct report *r, const struct report_rcpt *rr)
{
	/* a non-standard bounce without an action is a failure; Postfix's and
	 * Exim's plain-text warnings say "delayed" and are delay notices */
	return strcasecmp(rr->action, "failed") == 0 || (r->kind == REPORT_BOUNCE && rr->action[0] == '\0');
}

/* A report for a recipient already reported: the receiver repeated itself
 * or someone replays a token; counted once. 1 (handled), -1 on error. */
static int
fb_duplicate(const struct feedback *f, const struct fb_target *tg, const char *kind, const char *qid)
{
	char q[160];

	(void)f;
	log_info("event=report-duplicate tenant=%s kind=%s queue_id=%s rcpt_index=%u action=ignored",
	    log_quote(q, sizeof(q), tg->t.name, strlen(tg->t.name)), kind, qid, tg->vi.rcpt_index);
	return 1;
}

/* A delay notice (RFC 3464 Action: delayed): the receiver still tries;
 * recorded and counted as a deferral, never a suppression. */
static int
fb_apply_delay(const struct feedback *f, const struct report *r, const struct fb_target *tg,
    const struct report_rcpt *rr, const char *qid, const char *report_id, time_t now)
{
	char q1[400], q2[160];
	struct state_event e = {
		.time = now, .tenant_id = tg->t.id, .kind = EV_DELAYED, .queue_id = qid,
		.rcpt_index = qid[0] ? (int)tg->vi.rcpt_index : -1, .rcpt = rr->addr, .category = "",
		.status = rr->status, .detail = rr->diagnostic, .source = r->format[0] ? r->format : "report",
		.report_id = report_id,
	};

	if (state_events_record(f->st, &e, 1) < 0)
		return -1;
	outbox_recorded(&e, 1);
	if (f->rep != NULL)
		rep_note(f->rep, tg->t.id, REP_DEFERRED, 1, now);
	log_info("event=delay-notice tenant=%s queue_id=%s rcpt=%s status=%s report=%s",
	    log_quote(q2, sizeof(q2), tg->t.name, strlen(tg->t.name)), qid[0] ? qid : "-",
	    log_quote(q1, sizeof(q1), rr->addr, strlen(rr->addr)), rr->status[0] ? rr->status : "-", report_id);
	return 1;
}

/* The failed recipient the token was bound to (its address or original
 * address matches), else the first failed one, unverified. */
static const struct report_rcpt *
fb_failed_rcpt(const unsigned char secret[32], const struct report *r, const struct fb_target *tg,
    bool *verified)
{
	const struct report_rcpt *first = NULL;

	*verified = false;
	for (size_t i = 0; i < r->nrcpts; i++) {
		const struct report_rcpt *rr = &r->rcpts[i];
		if (!fb_action_failed(r, rr))
			continue;
		if (verp_rcpt_matches(secret, &tg->vi, rr->addr) || verp_rcpt_matches(secret, &tg->vi, rr->orig_addr)) {
			*verified = true;
			return rr;
		}
		if (first == NULL)
			first = rr;
	}
	return first;
}

static const struct report_rcpt *
fb_delayed_rcpt(const struct report *r)
{
	for (size_t i = 0; i < r->nrcpts; i++)
		if (strcasecmp(r->rcpts[i].action, "delayed") == 0)
			return &r->rcpts[i];
	return NULL;
}

/* Bounces: one per token (see SECURITY above), suppressing only the
 * address the token was bound to; without a failure, a delay notice. */
static int
fb_apply_bounce(const struct feedback *f, const unsigned char secret[32], const struct report *r,
    const struct fb_target *tg, const char *report_id, time_t now)
{
	const struct report_rcpt *rr, *delayed;
	bool verified;
	char qid[17];
	int seen;

	fb_qid_upper(&tg->vi, qid);
	if ((rr = fb_failed_rcpt(secret, r, tg, &verified)) == NULL) {
		delayed = fb_delayed_rcpt(r);
		return delayed != NULL ? fb_apply_delay(f, r, tg, delayed, qid, report_id, now) : 0;
	}
	{
		struct feedback_failure x = {
			.tenant_id = tg->t.id, .tenant = tg->t.name, .queue_id = qid,
			.rcpt_index = qid[0] ? (int)tg->vi.rcpt_index : -1, .rcpt = verified ? rr->addr : "",
			.claimed = rr->addr, .code = rr->code, .status = rr->status,
			.text = rr->diagnostic[0] ? rr->diagnostic : rr->status,
			.source = r->format[0] ? r->format : "report", .report_id = report_id,
		};
		if (qid[0] != '\0' && (seen = state_event_seen(f->st, tg->t.id, EV_BOUNCED, qid, x.rcpt_index, x.rcpt)) != 0)
			return seen < 0 ? -1 : fb_duplicate(f, tg, "bounce", qid);
		return feedback_failure_note(f, &x, now) < 0 ? -1 : 1;
	}
}

/* The complaining recipient: the report's Original-Rcpt-To, else the
 * original's To: when it names one address. */
static const char *
fb_complaint_rcpt(const struct report *r)
{
	if (r->original_rcpt[0] != '\0')
		return r->original_rcpt;
	if (r->orig_to[0] != '\0' && strchr(r->orig_to, ',') == NULL && strchr(r->orig_to, '@') != NULL)
		return r->orig_to;
	return "";
}

/* Suppress a verified complaining recipient. 0 or -1. */
static int
fb_complaint_suppress(const struct feedback *f, const struct fb_target *tg, const char *rcpt,
    const char *detail, const char *qid, const char *report_id, time_t now)
{
	struct suppression s;

	memset(&s, 0, sizeof(s));
	snprintf(s.addr, sizeof(s.addr), "%s", rcpt);
	s.reason = SUPPRESS_COMPLAINT;
	s.time = now;
	snprintf(s.cause, sizeof(s.cause), "arf %s report %s%s%s", detail, report_id, qid[0] ? " queue " : "", qid);
	return state_suppression_add(f->st, tg->t.id, &s);
}

/* A complaint counts for its tenant (the token is genuine); the recipient
 * is suppressed only when it is the address the token was bound to. */
static int
fb_apply_complaint(const struct feedback *f, const unsigned char secret[32], const struct report *r,
    const struct fb_target *tg, const char *report_id, time_t now)
{
	const char *claimed = fb_complaint_rcpt(r);
	bool verified = verp_rcpt_matches(secret, &tg->vi, claimed);
	const char *rcpt = verified ? claimed : "";
	char qid[17], detail[200], q1[400], q2[160];
	int idx, seen;

	fb_qid_upper(&tg->vi, qid);
	idx = qid[0] ? (int)tg->vi.rcpt_index : -1;
	if (qid[0] != '\0' && (seen = state_event_seen(f->st, tg->t.id, EV_COMPLAINED, qid, idx, rcpt)) != 0)
		return seen < 0 ? -1 : fb_duplicate(f, tg, "complaint", qid);
	snprintf(detail, sizeof(detail), "%s%s%s", r->feedback_type[0] ? r->feedback_type : "abuse",
	    r->user_agent[0] ? " from " : "", r->user_agent);
	/* the suppression first: a failure leaves no event, so the retry redoes both */
	if (verified && fb_complaint_suppress(f, tg, rcpt, detail, qid, report_id, now) < 0)
		return -1;
	{
		struct state_event e = {
			.time = now, .tenant_id = tg->t.id, .kind = EV_COMPLAINED, .queue_id = qid,
			.rcpt_index = idx, .rcpt = rcpt, .category = "complaint",
			.hard = true, .status = "", .detail = detail, .source = "arf", .report_id = report_id,
		};
		if (state_events_record(f->st, &e, 1) < 0)
			return -1;
		outbox_recorded(&e, 1);
	}
	log_info("event=complaint tenant=%s queue_id=%s rcpt=%s type=%s report=%s suppressed=%s",
	    log_quote(q2, sizeof(q2), tg->t.name, strlen(tg->t.name)), qid[0] ? qid : "-",
	    claimed[0] ? log_quote(q1, sizeof(q1), claimed, strlen(claimed)) : "-",
	    r->feedback_type[0] ? r->feedback_type : "abuse", report_id,
	    verified ? "complaint" : claimed[0] ? "unverified" : "no-recipient");
	if (f->rep != NULL) {
		rep_note(f->rep, tg->t.id, REP_COMPLAINT, 1, now);
		rep_evaluate(f->rep, f->st, tg->t.id, now);
	}
	return 1;
}

/* Auto-replies and reports nobody could read: an event, nothing else. */
static int
fb_apply_other(const struct feedback *f, const struct report *r, const struct fb_target *tg,
    const char *report_id, time_t now)
{
	bool auto_reply = r->kind == REPORT_AUTOREPLY;
	const char *kind = auto_reply ? EV_AUTOREPLY : EV_UNRECOGNIZED;
	char qid[17], q1[300], q2[160];
	struct state_event e = {
		.time = now, .tenant_id = tg->t.id, .kind = kind, .queue_id = qid, .rcpt_index = -1,
		.rcpt = "", .category = "", .status = "", .detail = auto_reply ? r->autoreply_why : r->subject,
		.source = auto_reply ? "autoreply" : "report", .report_id = report_id,
	};

	fb_qid_upper(&tg->vi, qid);
	if (state_events_record(f->st, &e, 1) < 0)
		return -1;
	outbox_recorded(&e, 1);
	log_info("event=%s tenant=%s queue_id=%s report=%s %s=%s", kind,
	    log_quote(q2, sizeof(q2), tg->t.name, strlen(tg->t.name)), qid[0] ? qid : "-", report_id,
	    auto_reply ? "why" : "subject", log_quote(q1, sizeof(q1), e.detail, strlen(e.detail)));
	return 0;
}

/* The ARF feedback types that are a recipient's complaint (RFC 5965 3.5):
 * not "not-spam", nor RFC 6591's "auth-failure" reports. */
static bool
fb_arf_is_complaint(const struct report *r)
{
	static const char *const types[] = { "abuse", "fraud", "virus", "" };

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(r->feedback_type, types[i]) == 0)
			return true;
	return false;
}

static int
fb_apply(const struct feedback *f, const unsigned char secret[32], const struct report *r,
    const struct fb_target *tg, const char *report_id, time_t now)
{
	/* The complaint address is public: what reaches it counts only when
	 * its original message carries a genuine token of this tenant, or
	 * anyone could suppress addresses and push the tenant to suspension. */
	if (tg->complaint && tg->vi.queue_id[0] == '\0') {
		char q[160];
		log_info("event=report-untied tenant=%s report=%s kind=%s reason=\"no genuine return path or "
		    VERP_REF_HEADER " of the tenant in the original message\"",
		    log_quote(q, sizeof(q), tg->t.name, strlen(tg->t.name)), report_id, report_kind_name(r->kind));
		return fb_apply_other(f, r, tg, report_id, now);
	}
	if (r->kind == REPORT_ARF && fb_arf_is_complaint(r))
		return fb_apply_complaint(f, secret, r, tg, report_id, now);
	if ((r->kind == REPORT_DSN || r->kind == REPORT_BOUNCE) && r->nrcpts > 0) {
		int n = fb_apply_bounce(f, secret, r, tg, report_id, now);
		if (n != 0)
			return n;
	}
	return fb_apply_other(f, r, tg, report_id, now);
}

/* Apply the report for each of the message's recipients: done[i] true
 * when recipient i is done (applied, or nothing to apply), false when a
 * database error leaves it for a retry. */
static void
fb_report_apply_all(const struct feedback *f, const struct spool_env *env, const struct report *r, time_t now,
    bool *done)
{
	unsigned char secret[32];

	if (state_verp_secret(f->st, secret) < 0)
		return;
	for (size_t i = 0; i < env->nrcpts; i++) {
		struct fb_target tg;
		char q[400];
		int found;
		if (env->rcpts[i].state != SPOOL_RCPT_PENDING)
			continue;
		found = fb_target_of(f, secret, env->rcpts[i].addr, &tg);
		if (found == 0) {
			log_warn("event=report-orphaned id=%s rcpt=%s reason=\"no tenant owns this return path any more\"",
			    env->id, log_quote(q, sizeof(q), env->rcpts[i].addr, strlen(env->rcpts[i].addr)));
			done[i] = true;
		} else if (found > 0) {
			if (tg.complaint)
				fb_target_from_original(secret, r, &tg);
			done[i] = fb_apply(f, secret, r, &tg, env->id, now) >= 0;
		}
	}
	sodium_memzero(secret, sizeof(secret));
}

int
feedback_report_process(const struct feedback *f, const struct spool_env *env, int fd, time_t now, bool *done)
{
	struct report r;
	size_t len = 0;
	char *buf = fb_content_read(env, fd, &len);

	if (buf == NULL) {
		int e = errno ? errno : EIO;
		log_error("event=report-unreadable id=%s error=\"%s\"", env->id, strerror(e));
		return -1;
	}
	memset(&r, 0, sizeof(r));
	report_parse(buf, len, &r);
	free(buf);
	log_info("event=report id=%s kind=%s format=%s nrcpt=%zu", env->id, report_kind_name(r.kind),
	    r.format[0] ? r.format : "-", r.nrcpts);
	fb_report_apply_all(f, env, &r, now, done);
	report_free(&r);
	return 0;
}
