/*
 * api_tenants.c - the admin's /v1/tenants: list, show, add, suspend,
 * resume, and each tenant's API keys (list, create, revoke). The same
 * state_admin.h and rep.h calls as `ferryctl tenant|key`, so the API and
 * ferryctl write the same state; a resume also releases the tenant's held
 * mail through the queue manager, as ferryctl asks ferryd to.
 * SECURITY: admin routes (the listener checked the admin token). A new
 * key's text is in the reply of its creation only: it is kept as a hash,
 * never listed, never logged.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "http/api_handlers.h"
#include "queue/qmgr.h"
#include "reputation/rep.h"
#include "state/state_admin.h"
#include "util/log.h"

#define API_REASON_MAX 100    /* as ferryctl's --reason: room for its "set by an operator: " */

/* The tenant the route's {name} names: its id, or 0 after a 404 (or an
 * error reply). */
static long long
api_tenant_find(const struct api_req *r, struct api_resp *rp)
{
	struct state_tenant t;
	int rc;

	if (r->nparams < 1 || !state_name_valid(r->params[0])) {
		api_error(rp, 404, "not_found", "no such tenant");
		return 0;
	}
	rc = state_tenant_by_name(r->env->st, r->params[0], &t);
	if (rc < 0)
		api_db_error(r, rp, "tenant lookup");
	else if (rc == 0)
		api_error(rp, 404, "not_found", "no tenant %s", r->params[0]);
	return rc == 1 ? t.id : 0;
}

/* Reply with the tenant as JSON (status 200 or 201). */
static void
api_tenant_reply(struct api_req *r, struct api_resp *rp, long long id, int status, bool detail)
{
	bool gone;
	json_t *o = api_tenant_json(r->env, id, detail, &gone);

	if (o != NULL)
		api_reply(rp, status, o);
	else if (gone)
		api_error(rp, 404, "not_found", "the tenant is gone");
	else
		api_db_error(r, rp, "tenant");
}

/* ---- tenants ---- */

struct api_key_walk {
	json_t     *rows;
	const char *prefix;     /* looking for one: */
	bool        found, revoked;
};
static void api_key_row(void *arg, const struct state_key_info *k);

struct api_tenant_walk {
	struct api_env *env;
	json_t         *rows;
	bool            failed;
};

static void
api_tenant_row(void *arg, const struct state_tenant_info *t)
{
	struct api_tenant_walk *w = arg;
	bool gone;
	json_t *o = api_tenant_json(w->env, t->t.id, false, &gone);

	if (o != NULL)
		json_array_append_new(w->rows, o);
	else if (!gone)
		w->failed = true;
}

/* GET /v1/tenants: every tenant by name (settings and status, no usage). */
void
api_tenants_list(struct api_req *r, struct api_resp *rp)
{
	struct api_tenant_walk w = { r->env, json_array(), false };
	char err[1024];

	if (state_tenant_list(r->env->st, api_tenant_row, &w, err, sizeof(err)) != 0 || w.failed) {
		json_decref(w.rows);
		api_db_error(r, rp, "tenant list");
		return;
	}
	api_reply(rp, 200, json_pack("{s:o}", "tenants", w.rows));
}

static void
api_account_row(void *arg, const struct state_account *a)
{
	json_t *o = json_object();

	api_json_str(o, "name", a->name);
	json_object_set_new(o, "limits", api_json_limits(&a->limits));
	api_json_time(o, "created", (time_t)a->created);
	json_array_append_new(arg, o);
}

static void
api_domain_name_row(void *arg, const struct state_domain_info *d)
{
	json_array_append_new(arg, json_string(d->name));
}

/* GET /v1/tenants/{name}: as /v1/account, with its keys (prefixes), domain
 * names and accounts (SMTP AUTH user names). */
void
api_tenant_get(struct api_req *r, struct api_resp *rp)
{
	struct api_key_walk w = { NULL, NULL, false, false };
	json_t *o, *accounts = json_array(), *domains = json_array();
	long long id;
	bool gone;
	char err[1024];

	w.rows = json_array();
	if ((id = api_tenant_find(r, rp)) == 0)
		goto done;
	if ((o = api_tenant_json(r->env, id, true, &gone)) == NULL) {
		if (gone)
			api_error(rp, 404, "not_found", "the tenant is gone");
		else
			api_db_error(r, rp, "tenant");
		goto done;
	}
	if (state_key_list(r->env->st, r->params[0], api_key_row, &w, err, sizeof(err)) != 0 ||
	    state_domain_list(r->env->st, r->params[0], api_domain_name_row, domains, err, sizeof(err)) != 0 ||
	    state_account_list(r->env->st, r->params[0], api_account_row, accounts, err, sizeof(err)) != 0) {
		json_decref(o);
		api_db_error(r, rp, "tenant");
		goto done;
	}
	json_object_set(o, "keys", w.rows);
	json_object_set(o, "domains", domains);
	json_object_set(o, "accounts", accounts);
	api_reply(rp, 200, o);
done:
	json_decref(w.rows);
	json_decref(domains);
	json_decref(accounts);
}

/* An optional string member: true (*out NULL when absent), or a 400. */
static bool
api_opt_str(json_t *in, const char *key, const char **out, struct api_resp *rp)
{
	json_t *v = json_object_get(in, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_string(v)) {
		api_error(rp, 400, "bad_request", "%s must be a string", key);
		return false;
	}
	*out = json_string_value(v);
	return true;
}

/* The body of POST /v1/tenants checked as `ferryctl tenant add` checks its
 * arguments: false after a 400 or 409. */
static bool
api_tenant_add_check(struct api_req *r, struct api_resp *rp, const char *name, const char *pool,
    const char *bounce)
{
	char b[STATE_DOMAIN_MAX + 1];
	struct state_tenant t;
	int rc;

	if (name == NULL || !state_name_valid(name)) {
		api_error(rp, 400, "bad_request", "name: 1 to %d of A-Z a-z 0-9 . _ -", STATE_NAME_MAX);
		return false;
	}
	if (pool != NULL && pool[0] != '\0' && (r->env->c == NULL || conf_pool_find(r->env->c, pool) == NULL)) {
		api_error(rp, 400, "bad_request", "no pool %s in the configuration", pool);
		return false;
	}
	if (bounce != NULL && bounce[0] != '\0' && state_domain_norm(bounce, b, sizeof(b)) != 0) {
		api_error(rp, 400, "bad_request", "bounce_domain is not a domain name");
		return false;
	}
	if ((rc = state_tenant_by_name(r->env->st, name, &t)) != 0) {
		if (rc < 0)
			api_db_error(r, rp, "tenant lookup");
		else
			api_error(rp, 409, "conflict", "tenant %s already exists", name);
		return false;
	}
	return true;
}

/* POST /v1/tenants {"name", "pool"?, "bounce_domain"?}: 201 and the tenant. */
void
api_tenants_add(struct api_req *r, struct api_resp *rp)
{
	const char *name, *pool, *bounce;
	struct state_tenant t;
	char err[1024], q[STATE_NAME_MAX * 4 + 8];
	json_t *in;

	if ((in = api_body_json(r, rp)) == NULL)
		return;
	if (!api_opt_str(in, "name", &name, rp) || !api_opt_str(in, "pool", &pool, rp) ||
	    !api_opt_str(in, "bounce_domain", &bounce, rp) ||
	    !api_tenant_add_check(r, rp, name, pool, bounce))
		goto done;
	if (state_tenant_add(r->env->st, name, pool, bounce, err, sizeof(err)) != 0) {
		/* what is left after the checks: the bounce domain is another tenant's */
		api_error(rp, 409, "conflict", "%s", err);
		goto done;
	}
	if (state_tenant_by_name(r->env->st, name, &t) != 1) {
		api_db_error(r, rp, "tenant lookup");
		goto done;
	}
	log_info("event=tenant-added tenant=%s tenant_id=%lld by=api client=%s",
	    log_quote(q, sizeof(q), name, strlen(name)), t.id, api_client(r));
	snprintf(rp->location, sizeof(rp->location), "/v1/tenants/%s", name);
	api_tenant_reply(r, rp, t.id, 201, false);
done:
	json_decref(in);
}

/* POST /v1/tenants/{name}/suspend {"reason"?}: as `ferryctl tenant suspend`
 * (its sessions refused, its queued mail held until resumed). */
void
api_tenant_suspend(struct api_req *r, struct api_resp *rp)
{
	const char *reason = "";
	char err[1024], qn[STATE_NAME_MAX * 4 + 8], qr[API_REASON_MAX * 4 + 8];
	long long id;
	json_t *in = NULL;

	if ((id = api_tenant_find(r, rp)) == 0)
		return;
	if (r->body_len > 0) {
		if ((in = api_body_json(r, rp)) == NULL || !api_opt_str(in, "reason", &reason, rp))
			goto done;
		if (reason == NULL)
			reason = "";
	}
	if (strlen(reason) > API_REASON_MAX || strpbrk(reason, "\r\n") != NULL) {
		api_error(rp, 400, "bad_request", "reason: one line of at most %d octets", API_REASON_MAX);
		goto done;
	}
	if (state_tenant_suspend(r->env->st, r->params[0], reason, err, sizeof(err)) != 0) {
		api_db_error(r, rp, "tenant suspend");
		goto done;
	}
	log_warn("event=tenant-suspended tenant=%s tenant_id=%lld reason=%s by=api client=%s",
	    log_quote(qn, sizeof(qn), r->params[0], strlen(r->params[0])), id,
	    log_quote(qr, sizeof(qr), reason, strlen(reason)), api_client(r));
	api_tenant_reply(r, rp, id, 200, false);
done:
	json_decref(in);
}

/* POST /v1/tenants/{name}/resume: as `ferryctl tenant resume`: suspension,
 * throttle and review cleared, evidence restarted, held mail released. */
void
api_tenant_resume(struct api_req *r, struct api_resp *rp)
{
	char err[1024], q[STATE_NAME_MAX * 4 + 8];
	long long id, released = 0;
	bool gone;
	json_t *o;

	if (api_tenant_find(r, rp) == 0)
		return;
	if (state_tenant_resume(r->env->st, r->params[0], &id, err, sizeof(err)) != 0 ||
	    rep_enforce_clear(r->env->st, id, time(NULL)) != 0) {
		api_db_error(r, rp, "tenant resume");
		return;
	}
	if (r->env->qmgr != NULL)
		released = qmgr_release_tenant(r->env->qmgr, id);
	log_info("event=tenant-resumed tenant=%s tenant_id=%lld released=%lld by=api client=%s",
	    log_quote(q, sizeof(q), r->params[0], strlen(r->params[0])), id, released, api_client(r));
	if ((o = api_tenant_json(r->env, id, false, &gone)) == NULL) {
		api_db_error(r, rp, "tenant");
		return;
	}
	json_object_set_new(o, "released", json_integer(released));
	api_reply(rp, 200, o);
}

/* ---- API keys ---- */

static json_t *
api_key_json(const struct state_key_info *k)
{
	json_t *o = json_object();

	json_object_set_new(o, "prefix", json_string(k->prefix));
	api_json_str(o, "label", k->label);
	json_object_set_new(o, "active", json_boolean(k->revoked == 0));
	api_json_time(o, "created", (time_t)k->created);
	api_json_time(o, "revoked", (time_t)k->revoked);
	return o;
}

static void
api_key_row(void *arg, const struct state_key_info *k)
{
	struct api_key_walk *w = arg;

	if (w->rows != NULL)
		json_array_append_new(w->rows, api_key_json(k));
	if (w->prefix != NULL && strcmp(w->prefix, k->prefix) == 0) {
		w->found = true;
		w->revoked = k->revoked != 0;
	}
}

/* GET /v1/tenants/{name}/keys: prefixes, labels, times; never a secret. */
void
api_keys_list(struct api_req *r, struct api_resp *rp)
{
	struct api_key_walk w = { json_array(), NULL, false, false };
	char err[1024];

	if (api_tenant_find(r, rp) == 0) {
		json_decref(w.rows);
		return;
	}
	if (state_key_list(r->env->st, r->params[0], api_key_row, &w, err, sizeof(err)) != 0) {
		json_decref(w.rows);
		api_db_error(r, rp, "key list");
		return;
	}
	api_reply(rp, 200, json_pack("{s:o}", "keys", w.rows));
}

/* POST /v1/tenants/{name}/keys {"label"?}: 201 with the key's text, the
 * only time it is shown. */
void
api_keys_add(struct api_req *r, struct api_resp *rp)
{
	char key[STATE_KEY_TEXT_MAX + 1], err[1024], q[STATE_NAME_MAX * 4 + 8];
	struct state_key_info k = { 0 };
	const char *label = "";
	json_t *in = NULL, *o;

	if (api_tenant_find(r, rp) == 0)
		return;
	if (r->body_len > 0 && ((in = api_body_json(r, rp)) == NULL || !api_opt_str(in, "label", &label, rp)))
		goto done;
	if (label == NULL)
		label = "";
	if (strlen(label) > STATE_LABEL_MAX || strpbrk(label, "\r\n\t") != NULL) {
		api_error(rp, 400, "bad_request", "label: one line of at most %d octets", STATE_LABEL_MAX);
		goto done;
	}
	if (state_key_create(r->env->st, r->params[0], label, key, err, sizeof(err)) != 0) {
		api_db_error(r, rp, "key create");
		goto done;
	}
	snprintf(k.prefix, sizeof(k.prefix), "%.*s", STATE_KEY_PREFIX_LEN, key);
	snprintf(k.label, sizeof(k.label), "%s", label);
	k.created = (long long)time(NULL);
	o = api_key_json(&k);
	json_object_set_new(o, "key", json_string(key));
	sodium_memzero(key, sizeof(key));
	log_info("event=key-created tenant=%s prefix=%s by=api client=%s",
	    log_quote(q, sizeof(q), r->params[0], strlen(r->params[0])), k.prefix, api_client(r));
	snprintf(rp->location, sizeof(rp->location), "/v1/tenants/%s/keys/%s", r->params[0], k.prefix);
	api_reply(rp, 201, o);
done:
	json_decref(in);
}

/* DELETE /v1/tenants/{name}/keys/{prefix}: the key stops working at once
 * (every use reads the database). 404 unknown, 409 already revoked. */
void
api_key_del(struct api_req *r, struct api_resp *rp)
{
	struct api_key_walk w = { NULL, NULL, false, false };
	char err[1024], q[STATE_NAME_MAX * 4 + 8];

	if (api_tenant_find(r, rp) == 0)
		return;
	w.prefix = r->nparams > 1 ? r->params[1] : "";
	if (state_key_list(r->env->st, r->params[0], api_key_row, &w, err, sizeof(err)) != 0) {
		api_db_error(r, rp, "key list");
		return;
	}
	if (!w.found) {
		api_error(rp, 404, "not_found", "tenant %s has no such key", r->params[0]);
		return;
	}
	if (w.revoked) {
		api_error(rp, 409, "conflict", "key %s is already revoked", w.prefix);
		return;
	}
	if (state_key_revoke(r->env->st, r->params[0], w.prefix, err, sizeof(err)) != 0) {
		api_db_error(r, rp, "key revoke");
		return;
	}
	log_info("event=key-revoked tenant=%s prefix=%s by=api client=%s",
	    log_quote(q, sizeof(q), r->params[0], strlen(r->params[0])), w.prefix, api_client(r));
	api_reply(rp, 200, json_pack("{s:s, s:b}", "prefix", w.prefix, "revoked", 1));
}
