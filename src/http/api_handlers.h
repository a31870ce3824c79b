/*
 * api_handlers.h - the HTTP API's own handlers: ping and events, suppressions,
 * domains, the account, and the admin's tenants, keys and queue (docs/api.md), as the
 * route table (api_routes_admin.c) names them, and the few helpers their
 * files share (api_admin_json.c).
 * SECURITY: tenant routes act only on r->tenant_id (api_tenant_need);
 * admin routes rely on the listener having checked API_AUTH_ADMIN.
 */
#ifndef FERRY_HTTP_API_HANDLERS_H
#define FERRY_HTTP_API_HANDLERS_H

#include <stdbool.h>
#include <time.h>

#include <jansson.h>

#include "http/api.h"
#include "state/state.h"

/* ---- api_ping.c, api_events.c (the listener's own) ---- */
void api_ping_get(struct api_req *r, struct api_resp *rp);
void api_ping_post(struct api_req *r, struct api_resp *rp);
void api_events_get(struct api_req *r, struct api_resp *rp);

/* ---- api_suppress.c (tenant scope) ---- */
void api_suppressions_list(struct api_req *r, struct api_resp *rp);      /* GET /v1/suppressions */
void api_suppressions_add(struct api_req *r, struct api_resp *rp);       /* POST /v1/suppressions */
void api_suppression_get(struct api_req *r, struct api_resp *rp);        /* GET .../{address} */
void api_suppression_del(struct api_req *r, struct api_resp *rp);        /* DELETE .../{address} */

/* ---- api_domains.c (tenant scope) ---- */
void api_domains_list(struct api_req *r, struct api_resp *rp);           /* GET /v1/domains */
void api_domain_get(struct api_req *r, struct api_resp *rp);             /* GET /v1/domains/{domain} */

/* ---- api_account.c (tenant scope) ---- */
void api_account_get(struct api_req *r, struct api_resp *rp);            /* GET /v1/account */

/* A tenant as JSON (docs/api.md, "Account"): settings, limits, status;
 * detail adds usage, reputation windows, enforcement and the suppression
 * list's size. NULL when it is gone or the database failed (*gone says
 * which). Shared by /v1/account and /v1/tenants. */
json_t *api_tenant_json(struct api_env *env, long long tenant_id, bool detail, bool *gone);

/* ---- api_tenants.c (admin) ---- */
void api_tenants_list(struct api_req *r, struct api_resp *rp);           /* GET /v1/tenants */
void api_tenants_add(struct api_req *r, struct api_resp *rp);            /* POST /v1/tenants */
void api_tenant_get(struct api_req *r, struct api_resp *rp);             /* GET /v1/tenants/{name} */
void api_tenant_suspend(struct api_req *r, struct api_resp *rp);         /* POST .../{name}/suspend */
void api_tenant_resume(struct api_req *r, struct api_resp *rp);          /* POST .../{name}/resume */
void api_keys_list(struct api_req *r, struct api_resp *rp);              /* GET .../{name}/keys */
void api_keys_add(struct api_req *r, struct api_resp *rp);               /* POST .../{name}/keys */
void api_key_del(struct api_req *r, struct api_resp *rp);                /* DELETE .../keys/{prefix} */

/* ---- api_queue.c (admin) ---- */
void api_queue_summary(struct api_req *r, struct api_resp *rp);          /* GET /v1/queue */
void api_queue_list(struct api_req *r, struct api_resp *rp);             /* GET /v1/queue/messages */
void api_queue_show(struct api_req *r, struct api_resp *rp);             /* GET .../messages/{id} */
void api_queue_hold(struct api_req *r, struct api_resp *rp);             /* POST .../{id}/hold */
void api_queue_release(struct api_req *r, struct api_resp *rp);          /* POST .../{id}/release */

/* api_routes_admin.c: this module's routes, ending with {0}. */
extern const struct api_route api_routes_admin[];
/* api_domains_edit.c: POST /v1/domains, DELETE /v1/domains/{domain} (admin). */
extern const struct api_route api_routes_domains_edit[];
/* api_messages.c: POST /v1/messages (src/inject/). */
extern const struct api_route api_routes_messages[];

/* ---- api_admin_json.c: shared by the files above ---- */

/* r acts for a tenant: true; else a 400 (an admin must name one with
 * ?tenant=NAME) and false. */
bool api_tenant_need(const struct api_req *r, struct api_resp *rp);

/* s as a JSON string: octets that are not UTF-8 (a peer's address or
 * reply may hold any) and control characters become '?'. NULL: null. */
json_t *api_json_text(const char *s);
/* Set key to api_json_text(s). */
void api_json_str(json_t *o, const char *key, const char *s);
/* Set key to t as RFC 3339 UTC ("2026-12-03T18:00:00Z") and
 * key_timestamp to t as a Unix time; both null when t is 0. */
void api_json_time(json_t *o, const char *key, time_t t);
/* A state_limits as {"per_minute", "per_hour", "per_day", "rcpts"}, 0 = none. */
json_t *api_json_limits(const struct state_limits *l);

/* ?limit= as 1..max (absent: def): true, or a 400 and false. */
bool api_query_limit(const struct api_req *r, struct api_resp *rp, long def, long max, long *out);

/* The client's address for a log line ("-" when unknown). */
const char *api_client(const struct api_req *r);

/* The state database failed: a 503 (try again), logged without secrets. */
void api_db_error(const struct api_req *r, struct api_resp *rp, const char *what);

#endif
