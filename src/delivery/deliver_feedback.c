/*
 * deliver_feedback.c - delivery's part of the feedback loop (feedback.h):
 * a report in the queue is processed instead of delivered, and the
 * outcomes of a tenant's recipients feed its events, suppressions and
 * reputation windows.
 * Threads: both run in the attempt's worker steps (database writes).
 */
#include "delivery/deliver_internal.h"

#include <stdio.h>
#include <string.h>

#include "events/outbox.h"
#include "feedback/feedback.h"
#include "reputation/rep.h"
#include "util/log.h"
#include "util/xmalloc.h"

static void
deliver_feedback_ctx(const struct deliver_ctx *d, const struct conf *c, struct feedback *f)
{
	memset(f, 0, sizeof(*f));
	f->st = d->h->state;
	f->rules = c->bounce_rules;
	f->rep = d->h->rep;
	f->complaint_local = c->complaint_local_part;
	f->soft_threshold = (int)c->suppress_soft_threshold;
	f->soft_window = (int)c->suppress_soft_window;
	f->soft_expiry = (int)c->suppress_soft_expiry;
}

void
deliver_report(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env, int fd,
    struct rcpt_result *res)
{
	struct feedback f;
	bool *done = xcalloc(env->nrcpts ? env->nrcpts : 1, sizeof(*done));
	int rc = -1;

	deliver_feedback_ctx(d, c, &f);
	if (f.st != NULL)
		rc = feedback_report_process(&f, env, fd, time(NULL), done);
	for (size_t i = 0; i < env->nrcpts; i++) {
		if (res[i].state != SPOOL_RCPT_PENDING)
			continue;
		res[i].attempted = true;
		/* a report waits for the database, never bounces; one that cannot
		 * be read at all expires like any message (and notifies nobody) */
		res[i].no_expire = rc == 0;
		snprintf(res[i].relay, sizeof(res[i].relay), "feedback");
		if (done[i])
			mta_reply_set(&res[i].reply, 250, "2.0.0 report processed");
		else
			mta_reply_set(&res[i].reply, 451, rc < 0 ? "4.3.0 report unreadable; kept for a retry" :
			    "4.3.0 state database unavailable; report kept for a retry");
	}
	free(done);
}

/* Is a failure the recipient's? A peer's refusal is; of ferry's own only
 * what DNS says of the recipient's domain (5.1.2 no such domain, 5.1.10
 * null MX): a size limit, a missing SMTPUTF8, a loop or an expiry say
 * nothing about the address. */
static bool
deliver_feedback_counts(const struct rcpt_result *r)
{
	char status[16];

	if (!r->reply.local)
		return true;
	return mta_reply_status(r->reply.text, status, sizeof(status)) &&
	    (strcmp(status, "5.1.2") == 0 || strcmp(status, "5.1.10") == 0);
}

/* The event of one recipient's outcome in this attempt (fields only:
 * the caller sets the kind). Strings point into env and r. */
static void
deliver_event_fill(const struct spool_env *env, const struct rcpt_result *r, int attempts, time_t now,
    char *status, size_t statussz, struct state_event *e)
{
	const struct spool_rcpt *er = r->env_rcpt != NULL ? r->env_rcpt : r->r;
	long idx = er - env->rcpts;

	status[0] = '\0';
	mta_reply_status(r->reply.text, status, statussz);
	*e = (struct state_event){
		.time = now, .tenant_id = env->tenant_id, .queue_id = env->id,
		.rcpt_index = idx >= 0 && (size_t)idx < env->nrcpts ? (int)idx : -1, .rcpt = r->r->addr,
		.status = status, .detail = r->reply.text, .code = r->reply.code, .sender = env->sender,
		.source_ip = r->source_ip, .site = r->site[0] ? r->site : r->relay, .attempt = attempts + 1,
		.delay = (long long)(now - env->arrival), .size = (long long)env->file_size,
		.source = r->reply.local ? "local" : "peer",
	};
}

static const char *
deliver_event_kind(const struct rcpt_result *r)
{
	if (r->state == SPOOL_RCPT_DELIVERED)
		return EV_DELIVERED;
	if (r->state == SPOOL_RCPT_FAILED)
		return r->expired ? EV_EXPIRED : EV_BOUNCED;
	return EV_DEFERRED;
}

/* A peer's (or DNS's) permanent refusal of a tenant's recipient: the
 * feedback loop classifies it and records the "bounced" event. */
static void
deliver_feedback_failure(struct deliver_ctx *d, const struct feedback *f, const struct spool_env *env,
    const struct rcpt_result *r, const struct state_event *ev)
{
	struct feedback_failure x = {
		.tenant_id = env->tenant_id, .tenant = d->tenant.found ? d->tenant.t.name : NULL,
		.queue_id = env->id, .rcpt_index = ev->rcpt_index, .rcpt = r->r->addr, .claimed = NULL,
		.code = r->reply.code, .status = NULL, .text = r->reply.text, .source = "sync", .report_id = "",
		.delivery = ev,
	};

	if (feedback_failure_note(f, &x, ev->time) < 0) {
		log_error("event=feedback-failed id=%s error=\"cannot record a bounce event in the state database\"",
		    env->id);
		outbox_emit(ev);    /* unclassified, but not lost */
	}
}

void
deliver_feedback_outcomes(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env,
    int attempts, const struct rcpt_result *res, size_t n)
{
	struct feedback f;
	long long delivered = 0, deferred = 0;
	time_t now = time(NULL);
	bool tenant = env->tenant_id != 0 && env->dsn_kind == SPOOL_DSN_NONE && d->h->state != NULL;

	if (env->report)
		return;     /* a report's outcome is the feedback loop's own events */
	deliver_feedback_ctx(d, c, &f);
	for (size_t i = 0; i < n; i++) {
		const struct rcpt_result *r = &res[i];
		struct state_event ev;
		char status[16];
		if (!r->attempted)
			continue;
		deliver_event_fill(env, r, attempts, now, status, sizeof(status), &ev);
		ev.kind = deliver_event_kind(r);
		if (r->state == SPOOL_RCPT_DELIVERED)
			delivered++;
		else if (r->state == SPOOL_RCPT_PENDING && !r->reply.local)
			deferred++;      /* the receiver's deferral, not ferry's own pacing */
		if (tenant && r->state == SPOOL_RCPT_FAILED && !r->expired && deliver_feedback_counts(r))
			deliver_feedback_failure(d, &f, env, r, &ev);
		else
			outbox_emit(&ev);
	}
	if (!tenant || f.rep == NULL)
		return;
	if (delivered > 0)
		rep_note(f.rep, env->tenant_id, REP_DELIVERED, delivered, now);
	if (deferred > 0)
		rep_note(f.rep, env->tenant_id, REP_DEFERRED, deferred, now);
}
