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

/* A peer's (or DNS's) permanent refusal of a tenant's recipient. */
static void
deliver_feedback_failure(struct deliver_ctx *d, const struct feedback *f, const struct spool_env *env,
    const struct rcpt_result *r, time_t now)
{
	const struct spool_rcpt *er = r->env_rcpt != NULL ? r->env_rcpt : r->r;
	struct feedback_failure x = {
		.tenant_id = env->tenant_id, .tenant = d->tenant.found ? d->tenant.t.name : NULL,
		.queue_id = env->id, .rcpt_index = (int)(er - env->rcpts), .rcpt = r->r->addr, .claimed = NULL,
		.code = r->reply.code, .status = NULL, .text = r->reply.text, .source = "sync", .report_id = "",
	};

	if (x.rcpt_index < 0 || (size_t)x.rcpt_index >= env->nrcpts)
		x.rcpt_index = -1;
	if (feedback_failure_note(f, &x, now) < 0)
		log_error("event=feedback-failed id=%s error=\"cannot record a bounce event in the state database\"",
		    env->id);
}

void
deliver_feedback_outcomes(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env,
    const struct rcpt_result *res, size_t n)
{
	struct feedback f;
	long long delivered = 0, deferred = 0;
	time_t now = time(NULL);

	if (env->tenant_id == 0 || env->report || env->dsn_kind != SPOOL_DSN_NONE || d->h->state == NULL)
		return;
	deliver_feedback_ctx(d, c, &f);
	for (size_t i = 0; i < n; i++) {
		const struct rcpt_result *r = &res[i];
		if (!r->attempted)
			continue;
		if (r->state == SPOOL_RCPT_DELIVERED)
			delivered++;
		else if (r->state == SPOOL_RCPT_FAILED && deliver_feedback_counts(r))
			deliver_feedback_failure(d, &f, env, r, now);
		else if (r->state == SPOOL_RCPT_PENDING && !r->reply.local)
			deferred++;      /* the receiver's deferral, not ferry's own pacing */
	}
	if (f.rep != NULL && delivered > 0)
		rep_note(f.rep, env->tenant_id, REP_DELIVERED, delivered, now);
	if (f.rep != NULL && deferred > 0)
		rep_note(f.rep, env->tenant_id, REP_DEFERRED, deferred, now);
}
