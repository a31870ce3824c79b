/*
 * api_account.c - GET /v1/account: the tenant a key belongs to (or the
 * admin's ?tenant=) with its limits beside its usage, its reputation
 * windows (1 h, 24 h, 7 d: rep.h, what `ferryctl tenant show` prints) and
 * its enforcement state; and the same tenant JSON for the admin's
 * /v1/tenants/{name} (api_tenant_json).
 * SECURITY: reads only the tenant r->tenant_id names; shows no secret.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http/api_handlers.h"
#include "reputation/rep.h"
#include "state/counters_open.h"
#include "state/state_admin.h"
#include "state/suppress.h"

/* A count, or null when the shared counters cannot be read. */
static json_t *
api_usage_json(long long v)
{
	return v >= 0 ? json_integer((json_int_t)v) : json_null();
}

/* The rate counters ferryd persists every second (counters.h; the same
 * keys `tenant show` reads): at most a second old; from Redis when the
 * counters are shared (counters_open.h). */
static json_t *
api_tenant_usage(struct api_env *env, long long id, time_t now)
{
	char key[COUNTER_KEY_MAX];

	snprintf(key, sizeof(key), "t:%lld", id);
	return json_pack("{s:o, s:o, s:o}",
	    "minute", api_usage_json(counters_usage_read(env->c, key, 60, now)),
	    "hour", api_usage_json(counters_usage_read(env->c, key, 3600, now)),
	    "day", api_usage_json(counters_usage_read(env->c, key, 86400, now)));
}

/* ppm as a fraction: 3000 -> 0.003. */
static json_t *
api_rate(long long ppm)
{
	return json_real((double)ppm / (double)REP_PPM);
}

static json_t *
api_totals_json(const struct rep_totals *t)
{
	json_t *cats = json_object();

	for (size_t i = 0; i < t->ncats; i++)
		json_object_set_new(cats, t->cats[i].name, json_integer(t->cats[i].n));
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:{s:o, s:o, s:o, s:o}}",
	    "sent", (json_int_t)t->sent, "delivered", (json_int_t)t->delivered,
	    "deferred", (json_int_t)t->deferred, "bounced", (json_int_t)t->bounced,
	    "hard_bounced", (json_int_t)t->hard, "unknown_recipient", (json_int_t)t->unknown,
	    "complaints", (json_int_t)t->complaint, "scanned", (json_int_t)t->scanned,
	    "spam", (json_int_t)t->spam, "bounce_categories", cats,
	    "rates", "complaint", api_rate(rep_rate_complaint(t)), "hard_bounce", api_rate(rep_rate_hard(t)),
	    "unknown_recipient", api_rate(rep_rate_unknown(t)), "spam", api_rate(rep_rate_spam(t)));
}

/* The windows `tenant show` prints: from the running struct rep in ferryd
 * (what is not written yet included), else from the database. */
static json_t *
api_tenant_reputation(struct api_env *env, long long id, time_t now)
{
	static const struct { const char *name; int secs; } win[] = {
		{ "1h", 3600 }, { "24h", 86400 }, { "7d", 7 * 86400 } };
	json_t *o = json_object();
	struct rep_totals t;

	for (size_t i = 0; i < sizeof(win) / sizeof(win[0]); i++) {
		int rc = env->rep != NULL ? rep_totals(env->rep, id, win[i].secs, 0, now, &t)
		    : rep_totals_read(state_path(env->st), id, win[i].secs, 0, now, &t);
		if (rc != 0) {
			json_decref(o);
			return NULL;
		}
		json_object_set_new(o, win[i].name, api_totals_json(&t));
	}
	return o;
}

static json_t *
api_tenant_enforcement(const struct rep_enforce *e)
{
	json_t *o = json_object();

	json_object_set_new(o, "state", json_string(rep_state_name(e->state)));
	api_json_str(o, "reason", e->reason);
	api_json_time(o, "since", e->time);
	api_json_time(o, "resumed", e->resumed);
	return o;
}

/* usage, reputation, enforcement, suppressions: false on a database error. */
static bool
api_tenant_detail(struct api_env *env, long long id, json_t *o)
{
	struct rep_enforce e;
	enum suppress_mode mode;
	json_t *rep;
	long long n;
	time_t now = time(NULL);

	if (rep_enforce_read(env->st, id, &e) != 1 || (rep = api_tenant_reputation(env, id, now)) == NULL)
		return false;
	json_object_set_new(o, "usage", api_tenant_usage(env, id, now));
	json_object_set_new(o, "reputation", rep);
	json_object_set_new(o, "enforcement", api_tenant_enforcement(&e));
	if ((n = state_suppression_count(env->st, id, NULL)) < 0 ||
	    state_tenant_suppress_mode(env->st, id, &mode) != 1)
		return false;
	json_object_set_new(o, "suppressions", json_pack("{s:I, s:s}", "count", (json_int_t)n,
	    "mode", suppress_mode_name(mode)));
	return true;
}

json_t *
api_tenant_json(struct api_env *env, long long tenant_id, bool detail, bool *gone)
{
	struct state_tenant t;
	struct state_tenant_info ti;
	enum state_spam_action sa;
	char err[512];
	json_t *o;
	int rc;

	*gone = false;
	if ((rc = state_tenant_by_id(env->st, tenant_id, &t)) <= 0 ||
	    state_tenant_get(env->st, t.name, &ti, err, sizeof(err)) != 0 ||
	    state_tenant_spam_action(env->st, tenant_id, &sa) < 0) {
		*gone = rc == 0;
		return NULL;
	}
	o = json_object();
	json_object_set_new(o, "id", json_integer(ti.t.id));
	api_json_str(o, "name", ti.t.name);
	json_object_set_new(o, "status", json_string(ti.t.suspended ? "suspended" : "active"));
	api_json_str(o, "suspend_reason", ti.suspend_reason);
	api_json_str(o, "pool", ti.t.pool);
	api_json_str(o, "bounce_domain", ti.t.bounce_domain);
	json_object_set_new(o, "weight", json_integer(ti.t.weight));
	json_object_set_new(o, "spam_action", json_string(state_spam_action_name(sa)));
	api_json_time(o, "created", (time_t)ti.created);
	json_object_set_new(o, "limits", api_json_limits(&ti.t.limits));
	if (detail && !api_tenant_detail(env, tenant_id, o)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

void
api_account_get(struct api_req *r, struct api_resp *rp)
{
	json_t *o;
	bool gone;

	if (!api_tenant_need(r, rp))
		return;
	if ((o = api_tenant_json(r->env, r->tenant_id, true, &gone)) != NULL)
		api_reply(rp, 200, o);
	else if (gone)
		api_error(rp, 404, "not_found", "the tenant is gone");
	else
		api_db_error(r, rp, "account");
}
