/*
 * api_queue.c - the admin's /v1/queue: the summary by state, site, domain
 * and tenant (what `ferryctl queue summary` shows), messages listed and
 * shown, held and released. The queue manager's own calls, as the control
 * socket makes them (control_cmd.c): qmgr_summary, qmgr_list_filter,
 * qmgr_show + qmgr_envelope, qmgr_hold, qmgr_release, qmgr_refusal.
 * SECURITY: admin routes. Queue ids are checked for their syntax before
 * use; envelope strings came from SMTP peers and are made safe for JSON
 * (api_json_str).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/control_summary.h"
#include "http/api_handlers.h"
#include "queue/qmgr.h"
#include "spool/spool_env.h"
#include "state/state_admin.h"
#include "util/smtp_kinds.h"

#define API_QUEUE_LIST_MAX 1000

/* The queue manager: false after a 503 (ferryd runs without one in a
 * test of the handlers, or delivery is not set up). */
static bool
api_queue_need(const struct api_req *r, struct api_resp *rp)
{
	if (r->env->qmgr != NULL)
		return true;
	api_error(rp, 503, "unavailable", "the queue manager is not running");
	return false;
}

/* ---- summary ---- */

struct api_summary {
	struct api_env *env;
	json_t         *sites, *domains, *tenants;
	long            ready, scheduled, active, held;
};

static json_t *
api_summary_counts(const struct qmgr_summary_row *row)
{
	return json_pack("{s:I, s:I, s:I, s:I}", "ready", (json_int_t)row->ready,
	    "scheduled", (json_int_t)row->scheduled, "active", (json_int_t)row->active,
	    "held", (json_int_t)row->held);
}

static void
api_summary_site(struct api_summary *s, const struct qmgr_summary_row *row)
{
	json_t *o = api_summary_counts(row);

	api_json_str(o, "site", row->name);
	api_json_str(o, "source", row->source);
	json_object_set_new(o, "connections", json_pack("{s:i, s:i, s:i}", "open", row->conns_open,
	    "busy", row->conns_busy, "limit", row->limit));
	json_object_set_new(o, "suspended", json_boolean(row->suspended));
	api_json_str(o, "shaping", row->shaping);
	json_array_append_new(s->sites, o);
}

/* A tenant row: its name beside the id the queue manager knows. Each
 * message is in exactly one tenant row, so these also give the totals. */
static void
api_summary_tenant(struct api_summary *s, const struct qmgr_summary_row *row)
{
	json_t *o = api_summary_counts(row);
	long long id = strtoll(row->name, NULL, 10);
	struct state_tenant t;

	json_object_set_new(o, "tenant_id", json_integer(id));
	if (id > 0 && state_tenant_by_id(s->env->st, id, &t) == 1)
		api_json_str(o, "tenant", t.name);
	else
		json_object_set_new(o, "tenant", id == 0 ? json_string("") : json_null());
	json_object_set_new(o, "suspended", json_boolean(row->suspended));
	json_array_append_new(s->tenants, o);
	s->ready += row->ready;
	s->scheduled += row->scheduled;
	s->active += row->active;
	s->held += row->held;
}

static void
api_summary_row(void *arg, const struct qmgr_summary_row *row)
{
	struct api_summary *s = arg;
	json_t *o;

	switch (row->kind) {
	case QMGR_ROW_SITE:
		api_summary_site(s, row);
		break;
	case QMGR_ROW_DOMAIN:
		o = api_summary_counts(row);
		api_json_str(o, "domain", row->name);
		json_object_set_new(o, "suspended", json_boolean(row->suspended));
		json_array_append_new(s->domains, o);
		break;
	case QMGR_ROW_TENANT:
		api_summary_tenant(s, row);
		break;
	}
}

/* GET /v1/queue: {"total": counts, "sites": [...], "domains": [...], "tenants": [...]}. */
void
api_queue_summary(struct api_req *r, struct api_resp *rp)
{
	struct api_summary s = { r->env, json_array(), json_array(), json_array(), 0, 0, 0, 0 };

	if (!api_queue_need(r, rp)) {
		json_decref(s.sites);
		json_decref(s.domains);
		json_decref(s.tenants);
		return;
	}
	qmgr_summary(r->env->qmgr, api_summary_row, &s);
	api_reply(rp, 200, json_pack("{s:{s:I, s:I, s:I, s:I}, s:o, s:o, s:o}",
	    "total", "ready", (json_int_t)s.ready, "scheduled", (json_int_t)s.scheduled,
	    "active", (json_int_t)s.active, "held", (json_int_t)s.held,
	    "sites", s.sites, "domains", s.domains, "tenants", s.tenants));
}

/* ---- messages ---- */

static json_t *
api_view_json(const struct qmgr_view *v)
{
	json_t *o = json_object(), *rcpts = json_array();

	json_object_set_new(o, "id", json_string(v->id));
	json_object_set_new(o, "state", json_string(v->state));
	api_json_time(o, "arrival", v->arrival);
	api_json_time(o, "next_try", v->next_try);
	json_object_set_new(o, "size", json_integer((json_int_t)v->size));
	api_json_str(o, "sender", v->sender);
	for (size_t i = 0; i < v->nrcpts; i++)
		json_array_append_new(rcpts, api_json_text(v->rcpts[i]));
	json_object_set_new(o, "recipients", rcpts);
	json_object_set_new(o, "attempts", json_integer(v->attempts));
	api_json_str(o, "last_error", v->last_error != NULL ? v->last_error : "");
	json_object_set_new(o, "tenant_id", json_integer(v->tenant));
	api_json_str(o, "domain", v->domain != NULL ? v->domain : "");
	return o;
}

struct api_list {
	json_t *rows;
	char    last[SPOOL_ID_LEN + 1];
};

static void
api_view_row(void *arg, const struct qmgr_view *v)
{
	struct api_list *l = arg;

	json_array_append_new(l->rows, api_view_json(v));
	snprintf(l->last, sizeof(l->last), "%s", v->id);
}

/* ?tenant=NAME: that tenant's id in f; false after a 404. */
static bool
api_queue_tenant(struct api_req *r, struct api_resp *rp, struct qmgr_filter *f)
{
	const char *name = api_query(r, "tenant");
	struct state_tenant t;
	int rc;

	if (name == NULL)
		return true;
	if (!state_name_valid(name) || (rc = state_tenant_by_name(r->env->st, name, &t)) == 0) {
		api_error(rp, 404, "not_found", "no such tenant");
		return false;
	}
	if (rc < 0) {
		api_db_error(r, rp, "tenant lookup");
		return false;
	}
	f->tenant = t.id;
	return true;
}

/* The filter of GET /v1/queue/messages; false after a 400. */
static bool
api_queue_filter(struct api_req *r, struct api_resp *rp, struct qmgr_filter *f)
{
	const char *held = api_query(r, "held"), *domain = api_query(r, "domain"),
	    *site = api_query(r, "site"), *cursor = api_query(r, "cursor");
	char norm[STATE_DOMAIN_MAX + 1];
	long limit;

	memset(f, 0, sizeof(*f));
	if (!api_query_limit(r, rp, 100, API_QUEUE_LIST_MAX, &limit))
		return false;
	f->limit = (size_t)limit;
	if (held != NULL && strcmp(held, "1") != 0 && strcmp(held, "0") != 0 &&
	    strcmp(held, "true") != 0 && strcmp(held, "false") != 0) {
		api_error(rp, 400, "bad_request", "held must be 1 or 0");
		return false;
	}
	f->held = held != NULL && (strcmp(held, "1") == 0 || strcmp(held, "true") == 0);
	if (domain != NULL) {
		if (state_domain_norm(domain, norm, sizeof(norm)) != 0) {
			api_error(rp, 400, "bad_request", "domain is not a domain name");
			return false;
		}
		f->domain = domain;
	}
	if (site != NULL && !control_site_name_valid(site)) {
		api_error(rp, 400, "bad_request", "site is not a site name as the summary shows it");
		return false;
	}
	f->site = site;
	if (cursor != NULL && !control_id_valid(cursor)) {
		api_error(rp, 400, "bad_request", "cursor is not a queue id");
		return false;
	}
	f->after = cursor;
	return api_queue_tenant(r, rp, f);
}

/* GET /v1/queue/messages?held=1&site=&domain=&tenant=&limit=&cursor= : oldest
 * first (queue ids sort by arrival); next_cursor the last id when the page
 * is full. */
void
api_queue_list(struct api_req *r, struct api_resp *rp)
{
	struct api_list l = { NULL, "" };
	struct qmgr_filter f;
	size_t n;
	json_t *body;

	if (!api_queue_need(r, rp) || !api_queue_filter(r, rp, &f))
		return;
	l.rows = json_array();
	n = qmgr_list_filter(r->env->qmgr, &f, api_view_row, &l);
	body = json_pack("{s:o}", "messages", l.rows);
	if (n == f.limit)
		json_object_set_new(body, "next_cursor", json_string(l.last));
	else
		json_object_set_new(body, "next_cursor", json_null());
	api_reply(rp, 200, body);
}

/* The {id} of the route: false after a 400. */
static bool
api_queue_id(const struct api_req *r, struct api_resp *rp)
{
	if (r->nparams >= 1 && control_id_valid(r->params[0]))
		return true;
	api_error(rp, 400, "bad_request", "not a queue id (16 upper-case hex digits)");
	return false;
}

/* The envelope as received and each finished recipient, as `queue show`. */
static void
api_envelope_json(json_t *o, const struct spool_env *env)
{
	json_t *e = json_object(), *done = json_array();

	api_json_str(e, "client", env->client_addr);
	api_json_str(e, "helo", env->helo);
	api_json_str(e, "auth", env->auth);
	api_json_str(e, "envid", env->envid);
	json_object_set_new(e, "ret", json_string(smtp_ret_name(env->ret)));
	json_object_set_new(e, "body", json_string(smtp_body_name(env->body)));
	json_object_set_new(e, "smtputf8", json_boolean(env->smtputf8));
	api_json_str(e, "source", env->source);
	api_json_str(e, "hold_reason", env->hold_reason);
	json_object_set_new(e, "delay_warning_sent", json_boolean(env->warned));
	json_object_set_new(o, "envelope", e);
	for (size_t i = 0; i < env->nrcpts; i++) {
		json_t *d;
		if (env->rcpts[i].state == SPOOL_RCPT_PENDING)
			continue;
		d = json_object();
		api_json_str(d, "recipient", env->rcpts[i].addr);
		json_object_set_new(d, "state", json_string(env->rcpts[i].state == SPOOL_RCPT_DELIVERED ?
		    "delivered" : "bounced"));
		json_array_append_new(done, d);
	}
	json_object_set_new(o, "done", done);
}

static void
api_view_one(void *arg, const struct qmgr_view *v)
{
	*(json_t **)arg = api_view_json(v);
}

/* GET /v1/queue/messages/{id}: the message, its envelope, finished recipients. */
void
api_queue_show(struct api_req *r, struct api_resp *rp)
{
	struct spool_env env;
	json_t *o = NULL;

	if (!api_queue_need(r, rp) || !api_queue_id(r, rp))
		return;
	if (qmgr_show(r->env->qmgr, r->params[0], api_view_one, &o) != 0 || o == NULL) {
		api_error(rp, 404, "not_found", "no message %s in the queue", r->params[0]);
		return;
	}
	if (qmgr_envelope(r->env->qmgr, r->params[0], &env) == 0) {
		api_envelope_json(o, &env);
		spool_env_free(&env);
	}
	api_reply(rp, 200, o);
}

/* Hold or release: 200 with the message's state after, 404 unknown, 409
 * refused (already held, not held, busy) with the queue manager's reason. */
static void
api_queue_action(struct api_req *r, struct api_resp *rp, const char *action,
    int (*fn)(struct qmgr *, const char *))
{
	char why[256];
	json_t *o = NULL;

	if (!api_queue_need(r, rp) || !api_queue_id(r, rp))
		return;
	if (fn(r->env->qmgr, r->params[0]) != 0) {
		if (qmgr_refusal(r->env->qmgr, action, r->params[0], why, sizeof(why)) < 0)
			api_error(rp, 404, "not_found", "no message %s in the queue", r->params[0]);
		else
			api_error(rp, 409, "conflict", "%s", why);
		return;
	}
	/* logged by the queue manager (event=held|released by=operator) */
	if (qmgr_show(r->env->qmgr, r->params[0], api_view_one, &o) != 0 || o == NULL)
		o = json_pack("{s:s}", "id", r->params[0]);
	api_reply(rp, 200, o);
}

void
api_queue_hold(struct api_req *r, struct api_resp *rp)
{
	api_queue_action(r, rp, "hold", qmgr_hold);
}

void
api_queue_release(struct api_req *r, struct api_resp *rp)
{
	api_queue_action(r, rp, "release", qmgr_release);
}
