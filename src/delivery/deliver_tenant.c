/*
 * deliver_tenant.c - what delivery needs to know about a message's tenant
 * (queue record 'G'): whether it is suspended (then the message is held,
 * never bounced), its IP pool, and whether its return path is rewritten
 * to "b+TOKEN@<bounce domain>" (verp.h); whether its mail carries
 * one-click unsubscribe headers (unsub.h).
 * SECURITY: the tenant id comes from our own queue file; the tenant's
 * settings are read from the state database at every attempt, so a
 * suspension applies to mail already queued.
 */
#include "delivery/deliver_internal.h"

#include <string.h>

#include "state/state_admin.h"
#include "state/unsub.h"
#include "util/log.h"

/* One-click unsubscribe links go on the tenant's own mail, never on a
 * bounce (null sender) or a DSN ferry makes. */
static int
deliver_tenant_unsub(struct deliver_tenant *t, struct deliver_ctx *d, const struct spool_env *env)
{
	bool on = false;

	if (env->sender[0] == '\0' || env->dsn_kind != SPOOL_DSN_NONE)
		return 0;
	if (state_tenant_unsubscribe(d->h->state, env->tenant_id, &on) < 0 ||
	    (on && !t->verp && state_verp_secret(d->h->state, t->secret) < 0))
		return -1;
	t->unsub = on;
	return 0;
}

int
deliver_tenant_load(struct deliver_ctx *d, const struct spool_env *env)
{
	struct deliver_tenant *t = &d->tenant;
	int rc;

	memset(t, 0, sizeof(*t));
	if (env->tenant_id == 0 || d->h->state == NULL)
		return 0;
	rc = state_tenant_by_id(d->h->state, env->tenant_id, &t->t);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		log_warn("event=tenant-unknown id=%s tenant=%lld reason=\"no such tenant (deleted?): delivered"
		    " without its pool, DKIM keys and return path\"", env->id, env->tenant_id);
		return 0;
	}
	t->found = true;
	if (t->t.suspended)
		return 1;
	t->pool = t->t.pool[0] != '\0' ? t->t.pool : NULL;
	/* Null senders (bounces ferry or the tenant makes) keep <>. */
	if (t->t.bounce_domain[0] != '\0' && env->sender[0] != '\0' && env->dsn_kind == SPOOL_DSN_NONE) {
		if (state_verp_secret(d->h->state, t->secret) < 0)
			return -1;
		t->verp = true;
	}
	return deliver_tenant_unsub(t, d, env);
}

int
deliver_tenant_weight(const struct deliver_ctx *d)
{
	long long w = d->tenant.found ? d->tenant.t.weight : 1;

	/* written by ferryctl within range; a hand edit of the database is clamped */
	return (int)(w < STATE_WEIGHT_MIN ? STATE_WEIGHT_MIN : w > STATE_WEIGHT_MAX ? STATE_WEIGHT_MAX : w);
}
