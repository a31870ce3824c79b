/*
 * api_domains.c - /v1/domains: a tenant's sender domains with their DKIM
 * selectors, and for one domain the DNS records to publish and what the
 * DNS says about them (src/dnscheck/, what `ferryctl domain dns|check`
 * print). SPF is not evaluated in ferryd (libspf2 is linked into ferryctl
 * only): the check says whether one v=spf1 record is published, and
 * `ferryctl domain check` evaluates it for each source address.
 * SECURITY: a domain of another tenant answers 404 as an unknown one does.
 * The check queries the configured dns_servers from the listener thread
 * (bounded: API_DNS_TIMEOUT_MS a lookup, a dozen lookups at most); ?check=0
 * leaves it out. DNS answers are only reported.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "conf/conf.h"
#include "dnscheck/dnscheck.h"
#include "http/api_handlers.h"
#include "state/state_admin.h"

#define API_DNS_TIMEOUT_MS 2000

struct api_dom_walk {
	struct state *st;
	json_t       *rows;
	bool          failed;
};

static void
api_selector_row(void *arg, const struct state_dkim_info *k)
{
	json_t *o = json_object();

	api_json_str(o, "selector", k->selector);
	api_json_str(o, "algorithm", k->algo);
	json_object_set_new(o, "signing", json_boolean(k->signing));
	api_json_time(o, "created", (time_t)k->created);
	json_array_append_new(arg, o);
}

/* The domain with its selectors; NULL on a database error. */
static json_t *
api_domain_json(struct state *st, const struct state_domain_info *d)
{
	json_t *o = json_object(), *sel = json_array();
	char err[512];

	api_json_str(o, "name", d->name);
	json_object_set_new(o, "subdomains", json_boolean(d->subdomains));
	api_json_time(o, "created", (time_t)d->created);
	if (state_dkim_key_list(st, d->name, api_selector_row, sel, err, sizeof(err)) != 0) {
		json_decref(sel);
		json_decref(o);
		return NULL;
	}
	json_object_set_new(o, "selectors", sel);
	return o;
}

static void
api_domain_row(void *arg, const struct state_domain_info *d)
{
	struct api_dom_walk *w = arg;
	json_t *o = api_domain_json(w->st, d);

	if (o == NULL)
		w->failed = true;
	else
		json_array_append_new(w->rows, o);
}

/* GET /v1/domains: the tenant's sender domains by name, with selectors. */
void
api_domains_list(struct api_req *r, struct api_resp *rp)
{
	struct api_dom_walk w = { r->env->st, NULL, false };
	char err[1024];

	if (!api_tenant_need(r, rp))
		return;
	w.rows = json_array();
	if (state_domain_list(r->env->st, r->tenant, api_domain_row, &w, err, sizeof(err)) != 0 ||
	    w.failed) {
		json_decref(w.rows);
		api_db_error(r, rp, "domain list");
		return;
	}
	api_reply(rp, 200, json_pack("{s:o}", "domains", w.rows));
}

/* ---- one domain: records and check ---- */

static void
api_record_row(void *arg, const struct dnscheck_record *rec)
{
	json_t *o;

	if (rec->value == NULL) {   /* nothing to publish: the note says why */
		json_array_append_new(json_object_get(arg, "notes"), api_json_text(rec->note));
		return;
	}
	o = json_object();
	json_object_set_new(o, "purpose", json_string(rec->kind));
	api_json_str(o, "name", rec->name);
	json_object_set_new(o, "type", json_string(rec->type));
	api_json_str(o, "value", rec->value);
	if (rec->selector[0] != '\0') {
		api_json_str(o, "selector", rec->selector);
		json_object_set_new(o, "signing", json_boolean(rec->signing));
	}
	if (rec->note[0] != '\0')
		api_json_str(o, "note", rec->note);
	json_array_append_new(json_object_get(arg, "records"), o);
}

static void
api_record_warn(void *arg, const char *msg)
{
	json_array_append_new(json_object_get(arg, "notes"), api_json_text(msg));
}

static void
api_check_finding(void *arg, enum dnscheck_status s, const char *what, const char *msg)
{
	json_t *o = json_object();

	json_object_set_new(o, "status", json_string(dnscheck_status_name(s)));
	api_json_str(o, "what", what);
	api_json_str(o, "message", msg);
	json_array_append_new(arg, o);
}

/* The DNS check as {"ok", "source_addresses", "sources_from",
 * "spf_evaluated": false, "findings": [...]}; NULL + err when it could not
 * run (resolver, database). */
/* One DNS check at a time in the process: a check runs on a listener
 * thread and a domain's own nameservers may make every lookup wait for
 * its timeout; the other listener threads stay free for everyone else. */
static atomic_flag api_dns_check_busy = ATOMIC_FLAG_INIT;

static json_t *api_domain_check_run(struct api_req *r, const char *domain, char *err, size_t errlen);

static json_t *
api_domain_check(struct api_req *r, const char *domain, char *err, size_t errlen)
{
	json_t *o;

	if (atomic_flag_test_and_set(&api_dns_check_busy)) {
		snprintf(err, errlen, "another DNS check is running: ask again in a few seconds");
		return NULL;
	}
	o = api_domain_check_run(r, domain, err, errlen);
	atomic_flag_clear(&api_dns_check_busy);
	return o;
}

static json_t *
api_domain_check_run(struct api_req *r, const char *domain, char *err, size_t errlen)
{
	const struct conf *c = r->env->c;
	struct dnscheck k = { 0 };
	json_t *findings = json_array(), *src = json_array(), *o = NULL;
	int ms = (int)c->dns_timeout * 1000;

	k.conf = c;
	k.st = r->env->st;
	k.domain = domain;
	k.say = api_check_finding;
	k.arg = findings;
	if ((k.r = dns_resolver_new(c->dns_servers, ms > 0 && ms < API_DNS_TIMEOUT_MS ? ms :
	    API_DNS_TIMEOUT_MS, err, errlen)) == NULL || dnscheck_begin(&k, err, errlen) != 0 ||
	    dnscheck_run(&k, err, errlen) != 0)
		goto done;
	for (size_t i = 0; i < k.src.n; i++)
		json_array_append_new(src, json_string(k.src.addr[i]));
	o = json_pack("{s:b, s:O, s:s, s:b, s:O}", "ok", k.bad == 0, "source_addresses", src,
	    "sources_from", k.from != NULL ? k.from : "", "spf_evaluated", 0, "findings", findings);
done:
	dns_resolver_free(k.r);
	dnscheck_end(&k);
	json_decref(findings);
	json_decref(src);
	return o;
}

/* The route's {domain} when it is one of r's tenant's; else a 404 (or
 * 400, 503) and false. */
static bool
api_domain_own(struct api_req *r, struct api_resp *rp, struct state_domain_info *d)
{
	char name[STATE_DOMAIN_MAX + 1], err[1024];
	struct state_tenant t;
	int rc;

	if (r->nparams < 1 || state_domain_norm(r->params[0], name, sizeof(name)) != 0) {
		api_error(rp, 400, "bad_request", "not a domain name");
		return false;
	}
	/* state_domain_get cannot tell "none" from a database error: ask the
	 * database once more when it fails */
	if (state_domain_get(r->env->st, name, d, err, sizeof(err)) != 0) {
		if ((rc = state_tenant_by_id(r->env->st, r->tenant_id, &t)) < 0)
			api_db_error(r, rp, "domain lookup");
		else
			api_error(rp, 404, "not_found", "no domain %s", name);
		return false;
	}
	if (d->tenant_id != r->tenant_id) {
		api_error(rp, 404, "not_found", "no domain %s", name);
		return false;
	}
	return true;
}

/* GET /v1/domains/{domain}[?check=0]: the domain, "records" to publish,
 * "notes" (what keeps a record out), and "check" (null with ?check=0). */
void
api_domain_get(struct api_req *r, struct api_resp *rp)
{
	struct state_domain_info d;
	const char *check = api_query(r, "check");
	char err[1024];
	json_t *o, *chk = NULL;
	int problems;

	if (!api_tenant_need(r, rp) || !api_domain_own(r, rp, &d))
		return;
	if (r->env->c == NULL) {
		api_error(rp, 503, "unavailable", "no configuration loaded");
		return;
	}
	if ((o = api_domain_json(r->env->st, &d)) == NULL) {
		api_db_error(r, rp, "domain");
		return;
	}
	json_object_set_new(o, "records", json_array());
	json_object_set_new(o, "notes", json_array());
	problems = dnscheck_records(r->env->st, r->env->c, d.name, api_record_row, api_record_warn, o,
	    err, sizeof(err));
	if (problems < 0) {
		json_decref(o);
		api_db_error(r, rp, "domain records");
		return;
	}
	if (check == NULL || strcmp(check, "0") != 0) {
		if ((chk = api_domain_check(r, d.name, err, sizeof(err))) == NULL)
			api_record_warn(o, err);
	}
	json_object_set_new(o, "check", chk != NULL ? chk : json_null());
	api_reply(rp, 200, o);
}
