/*
 * api_domains_edit.c - POST /v1/domains and DELETE /v1/domains/{domain}:
 * the admin adds a sender domain to a tenant (with its first DKIM keys, as
 * `ferryctl domain add`) or removes one (with its keys).
 * SECURITY: a sender domain lets a tenant send as that domain, so only the
 * admin token may add or remove one (acting for ?tenant=NAME); a tenant's
 * own key gets 403. The reply of the add is GET /v1/domains/{domain}'s,
 * which lists the DNS records to publish.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "http/api_handlers.h"
#include "state/state.h"
#include "state/state_admin.h"
#include "util/log.h"

/* The admin acting for a tenant; else 403 (a tenant key) or 400. */
static bool
api_domains_admin(struct api_req *r, struct api_resp *rp)
{
	if (!r->admin) {
		api_error(rp, 403, "forbidden", "only the admin token adds or removes sender domains");
		return false;
	}
	return api_tenant_need(r, rp);
}

/* POST /v1/domains {"domain": "mail.example.com", "subdomains": false} */
static void
api_domains_add(struct api_req *r, struct api_resp *rp)
{
	char name[STATE_DOMAIN_MAX + 1], err[1024];
	json_t *body, *dom, *sub;
	char path[STATE_DOMAIN_MAX + 16];

	if (!api_domains_admin(r, rp) || (body = api_body_json(r, rp)) == NULL)
		return;
	dom = json_object_get(body, "domain");
	sub = json_object_get(body, "subdomains");
	if (!json_is_string(dom) || state_domain_norm(json_string_value(dom), name, sizeof(name)) != 0) {
		api_error(rp, 400, "bad_request", "\"domain\" must be a domain name");
		json_decref(body);
		return;
	}
	if (sub != NULL && !json_is_boolean(sub)) {
		api_error(rp, 400, "bad_request", "\"subdomains\" must be true or false");
		json_decref(body);
		return;
	}
	if (state_domain_add_keys(r->env->st, r->tenant, name, json_is_true(sub), err, sizeof(err)) != 0) {
		/* taken by a tenant, or not a name: the state layer says which */
		bool taken = strstr(err, "already") != NULL || strstr(err, "belongs to") != NULL;
		api_error(rp, taken ? 409 : 400, taken ? "conflict" : "bad_request", "%s", err);
		json_decref(body);
		return;
	}
	json_decref(body);
	log_info("event=domain-added tenant=%s domain=%s by=api", r->tenant, name);
	snprintf(path, sizeof(path), "%s", name);
	r->params[0] = path;
	r->nparams = 1;
	api_domain_get(r, rp);       /* the domain with its records to publish */
	if (rp->status == 200)
		rp->status = 201;
	if (strlen(name) + sizeof("/v1/domains/") <= sizeof(rp->location))   /* else no Location */
		snprintf(rp->location, sizeof(rp->location), "/v1/domains/%.243s", name);
}

/* DELETE /v1/domains/{domain} */
static void
api_domains_del(struct api_req *r, struct api_resp *rp)
{
	char name[STATE_DOMAIN_MAX + 1], err[1024];

	if (!api_domains_admin(r, rp))
		return;
	if (r->nparams < 1 || state_domain_norm(r->params[0], name, sizeof(name)) != 0) {
		api_error(rp, 400, "bad_request", "not a domain name");
		return;
	}
	if (state_domain_del(r->env->st, r->tenant, name, err, sizeof(err)) != 0) {
		api_error(rp, 404, "not_found", "%s", err);
		return;
	}
	state_dkim_files_remove(r->env->st, name);
	log_info("event=domain-removed tenant=%s domain=%s by=api", r->tenant, name);
	rp->status = 204;
}

const struct api_route api_routes_domains_edit[] = {
	{ "POST",   "/v1/domains",          API_AUTH_TENANT, api_domains_add },
	{ "DELETE", "/v1/domains/{domain}", API_AUTH_TENANT, api_domains_del },
	{ NULL, NULL, API_AUTH_NONE, NULL },
};
