/*
 * feedback.c - a tenant recipient's permanent failure: classified, recorded
 * as an event, turned into a suppression (never for a failure about the
 * sender), counted (feedback.h).
 * STANDARDS: RFC 3463 (enhanced status codes).
 * SECURITY: the reply text is a remote peer's (or a report's sender's):
 * it is matched under the classifier's limits, bounded, stored as a bound
 * value and quoted in logs.
 */
#include "feedback/feedback.h"

#include <stdio.h>
#include <string.h>

#include "events/outbox.h"
#include "feedback/classify.h"
#include "reputation/rep.h"
#include "state/events.h"
#include "state/suppress.h"
#include "util/log.h"

/* Suppress the recipient as the category says; the word for the log. A
 * sender category (the tenant's authentication, ferry's IP on a block list,
 * the content) says nothing about the recipient: counting it toward a soft
 * suppression would drop good addresses after a few failures of ours. */
static const char *
feedback_suppress(const struct feedback *f, const struct feedback_failure *x,
    const struct classify_result *cr, const char *cause, time_t now, int *rc)
{
	struct suppression s;
	int n;

	*rc = 0;
	if (x->rcpt == NULL || x->rcpt[0] == '\0')
		return x->claimed != NULL && x->claimed[0] != '\0' ? "unverified" : "no-recipient";
	if (cr->sender)
		return "sender";
	if (!cr->hard) {
		n = state_suppression_soft(f->st, x->tenant_id, x->rcpt, cause, now, f->soft_threshold,
		    f->soft_window, f->soft_expiry);
		*rc = n < 0 ? -1 : 0;
		return n > 0 ? "soft-bounce" : n == 0 ? "counted" : "error";
	}
	memset(&s, 0, sizeof(s));
	snprintf(s.addr, sizeof(s.addr), "%s", x->rcpt);
	s.reason = SUPPRESS_HARD_BOUNCE;
	s.time = now;
	s.expires = 0;
	snprintf(s.cause, sizeof(s.cause), "%s", cause);
	*rc = state_suppression_add(f->st, x->tenant_id, &s);
	return *rc == 0 ? "hard-bounce" : "error";
}

static void
feedback_count(const struct feedback *f, const struct feedback_failure *x,
    const struct classify_result *cr, time_t now)
{
	if (f->rep != NULL)
		rep_note_bounce(f->rep, x->tenant_id, cr->category, cr->hard,
		    strcmp(cr->category, "invalid-recipient") == 0, now);
}

static void
feedback_failure_log(const struct feedback_failure *x, const struct classify_result *cr,
    const char *status, const char *suppressed)
{
	const char *who = x->claimed != NULL ? x->claimed : x->rcpt;
	char rcpt[400], text[700], tenant[160];

	log_info("event=bounce tenant=%s queue_id=%s rcpt=%s category=%s class=%s status=%s code=%d"
	    " source=%s report=%s suppressed=%s rule=%s reply=%s",
	    x->tenant != NULL ? log_quote(tenant, sizeof(tenant), x->tenant, strlen(x->tenant)) : "-",
	    x->queue_id[0] ? x->queue_id : "-",
	    who[0] ? log_quote(rcpt, sizeof(rcpt), who, strlen(who)) : "-",
	    cr->category, cr->hard ? "hard" : "soft", status[0] ? status : "-", x->code, x->source,
	    x->report_id[0] ? x->report_id : "-", suppressed, cr->rule && cr->rule[0] ? cr->rule : "-",
	    log_quote(text, sizeof(text), x->text, strlen(x->text)));
}

/* The "bounced" event, recorded now: a report's retry takes it for done. */
static int
feedback_failure_event(const struct feedback *f, const struct feedback_failure *x,
    const struct classify_result *cr, const char *status, time_t now)
{
	struct state_event e = { 0 };

	if (x->delivery != NULL)
		e = *x->delivery;
	e.time = now;
	e.tenant_id = x->tenant_id;
	e.kind = EV_BOUNCED;
	e.queue_id = x->queue_id;
	e.rcpt_index = x->rcpt_index;
	e.rcpt = x->rcpt;
	e.category = cr->category;
	e.hard = cr->hard;
	e.status = status;
	e.detail = x->text;
	e.source = x->source;
	e.report_id = x->report_id;
	if (e.code == 0)
		e.code = x->code;
	if (state_events_record(f->st, &e, 1) < 0)
		return -1;
	outbox_recorded(&e, 1);
	return 0;
}

int
feedback_failure_note(const struct feedback *f, const struct feedback_failure *x, time_t now)
{
	struct classify_result cr;
	char status[16] = "", cause[256];
	const char *suppressed;
	int rc;

	classify_reply(f->rules, x->code, x->status != NULL && x->status[0] ? x->status : NULL, x->text,
	    strlen(x->text), &cr);
	snprintf(status, sizeof(status), "%s", cr.status);    /* given, or read from the text */
	snprintf(cause, sizeof(cause), "%s %s: %d %.160s%s%s", x->source, cr.category, x->code, x->text,
	    x->queue_id[0] ? " queue " : "", x->queue_id);
	/* The suppression before the event: the event is what a retry takes
	 * for "done" (state_event_seen), so a failure between the two must
	 * leave no event. */
	suppressed = feedback_suppress(f, x, &cr, cause, now, &rc);
	if (rc < 0)
		return -1;
	if (feedback_failure_event(f, x, &cr, status, now) < 0)
		return -1;
	feedback_count(f, x, &cr, now);
	feedback_failure_log(x, &cr, status, suppressed);
	if (f->rep != NULL)
		rep_evaluate(f->rep, f->st, x->tenant_id, now);
	return 0;
}
