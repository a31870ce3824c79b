/*
 * state_admin_domain.c - ferryctl's edits of sender domains, their DKIM key
 * rows and connectors (the key files themselves: state_dkimgen.c).
 * A domain belongs to one tenant only (UNIQUE in the schema, and said
 * plainly here); a connector's domain list may only name its tenant's domains.
 * SECURITY: values are always bound parameters; networks are parsed with
 * netaddr_net_parse before they are stored.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "state/state_admin.h"
#include "state/state_admin_internal.h"
#include "state/state_internal.h"
#include "util/netaddr.h"

/* ---- domains ---------------------------------------------------------------- */

static const char adm_domain_cols[] = "SELECT d.id, t.name, t.id, d.name, d.subdomains, d.created"
    " FROM domains d JOIN tenants t ON t.id = d.tenant_id";

static void
adm_domain_read(struct db_stmt *stmt, struct state_domain_info *d)
{
	memset(d, 0, sizeof(*d));
	d->id = db_column_int64(stmt, 0);
	state_text_copy(d->tenant, sizeof(d->tenant), stmt, 1);
	d->tenant_id = db_column_int64(stmt, 2);
	state_text_copy(d->name, sizeof(d->name), stmt, 3);
	d->subdomains = db_column_int(stmt, 4) != 0;
	d->created = db_column_int64(stmt, 5);
}

/* 1 found (d filled), 0 none, -1 + err. domain is already normalised. */
static int
adm_domain_find(struct state *st, const char *domain, struct state_domain_info *d,
    char *err, size_t errlen)
{
	char sql[256];
	struct db_stmt *stmt;
	int rc;

	snprintf(sql, sizeof(sql), "%s WHERE d.name = ?1;", adm_domain_cols);
	if ((stmt = adm_prepare(st, err, errlen, sql, "t", domain)) == NULL)
		return -1;
	rc = db_step(stmt);
	if (rc == DB_ROW)
		adm_domain_read(stmt, d);
	db_finalize(stmt);
	if (rc != DB_ROW && rc != DB_DONE)
		return adm_dbfail(st, err, errlen, "database error");
	return rc == DB_ROW;
}

int
state_domain_get(struct state *st, const char *domain, struct state_domain_info *d,
    char *err, size_t errlen)
{
	char name[STATE_DOMAIN_MAX + 1];
	int rc;

	if (state_domain_norm(domain, name, sizeof(name)) != 0)
		return adm_fail(err, errlen, "invalid domain %s", domain);
	rc = adm_domain_find(st, name, d, err, errlen);
	if (rc == 0)
		return adm_fail(err, errlen, "no tenant has domain %s", name);
	return rc < 0 ? -1 : 0;
}

int
state_domain_add(struct state *st, const char *tenant, const char *domain, bool subdomains,
    char *err, size_t errlen)
{
	char name[STATE_DOMAIN_MAX + 1];
	struct state_domain_info d;
	long long tid, other;
	int rc;

	if (state_domain_norm(domain, name, sizeof(name)) != 0)
		return adm_fail(err, errlen, "invalid domain %s", domain);
	if (adm_tenant_id(st, tenant, &tid, err, errlen) != 0)
		return -1;
	if ((rc = adm_domain_find(st, name, &d, err, errlen)) < 0)
		return -1;
	if (rc > 0 && d.tenant_id == tid)
		return adm_fail(err, errlen, "tenant %s already has domain %s", tenant, name);
	if (rc > 0)
		return adm_fail(err, errlen, "domain %s belongs to tenant %s (a domain belongs to one"
		    " tenant only)", name, d.tenant);
	/* Another tenant's bounce domain (its envelope sender) stays out of it.
	 * The suffix by a positive start: PostgreSQL's substr() does not count
	 * a negative one from the end as SQLite's does. */
	rc = adm_find_id(st, err, errlen, &other, subdomains
	    ? "SELECT id FROM tenants WHERE id <> ?2 AND (bounce_domain = ?1 OR"
	      " substr(bounce_domain, length(bounce_domain) - length(?1)) = '.' || ?1);"
	    : "SELECT id FROM tenants WHERE id <> ?2 AND bounce_domain = ?1;", name, tid);
	if (rc < 0)
		return -1;
	if (rc > 0)
		return adm_fail(err, errlen, "domain %s holds another tenant's bounce domain", name);
	return adm_exec(st, err, errlen, "INSERT INTO domains(tenant_id, name, subdomains, created)"
	    " VALUES (?1, ?2, ?3, ?4);", "ItII", tid, name, (long long)subdomains,
	    (long long)time(NULL)) < 0 ? -1 : 0;
}

int
state_domain_list(struct state *st, const char *tenant, state_domain_fn fn, void *arg,
    char *err, size_t errlen)
{
	struct state_domain_info d;
	char sql[256];
	struct db_stmt *stmt;
	long long tid = 0;
	int rc;

	if (tenant != NULL && adm_tenant_id(st, tenant, &tid, err, errlen) != 0)
		return -1;
	snprintf(sql, sizeof(sql), "%s WHERE ?1 = 0 OR t.id = ?1 ORDER BY t.name, d.name;",
	    adm_domain_cols);
	if ((stmt = adm_prepare(st, err, errlen, sql, "I", tid)) == NULL)
		return -1;
	while ((rc = db_step(stmt)) == DB_ROW) {
		adm_domain_read(stmt, &d);
		fn(arg, &d);
	}
	db_finalize(stmt);
	return rc == DB_DONE ? 0 : adm_dbfail(st, err, errlen, "database error");
}

int
state_domain_del(struct state *st, const char *tenant, const char *domain,
    char *err, size_t errlen)
{
	struct state_domain_info d;

	if (state_domain_get(st, domain, &d, err, errlen) != 0)
		return -1;
	if (strcmp(d.tenant, tenant) != 0)
		return adm_fail(err, errlen, "domain %s is not tenant %s's (it is %s's)", d.name,
		    tenant, d.tenant);
	return adm_exec(st, err, errlen, "DELETE FROM domains WHERE id = ?1;", "I", d.id) < 0 ? -1 : 0;
}

/* ---- DKIM key rows ------------------------------------------------------------ */

int
state_dkim_key_add(struct state *st, const char *domain, const char *selector,
    const char *algo, const char *path, bool signing, char *err, size_t errlen)
{
	struct state_domain_info d;

	if (state_domain_get(st, domain, &d, err, errlen) != 0)
		return -1;
	return adm_exec(st, err, errlen, "INSERT INTO dkim_keys(domain_id, selector, algo, path,"
	    " signing, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6);", "ItttII", d.id, selector, algo,
	    path, (long long)signing, (long long)time(NULL)) < 0 ? -1 : 0;
}

int
state_dkim_key_list(struct state *st, const char *domain, state_dkim_info_fn fn, void *arg,
    char *err, size_t errlen)
{
	struct state_domain_info d;
	struct state_dkim_info k;
	struct db_stmt *stmt;
	int rc;

	if (state_domain_get(st, domain, &d, err, errlen) != 0)
		return -1;
	stmt = adm_prepare(st, err, errlen, "SELECT selector, algo, path, signing, created FROM"
	    " dkim_keys WHERE domain_id = ?1 ORDER BY id;", "I", d.id);
	if (stmt == NULL)
		return -1;
	while ((rc = db_step(stmt)) == DB_ROW) {
		memset(&k, 0, sizeof(k));
		state_text_copy(k.selector, sizeof(k.selector), stmt, 0);
		state_text_copy(k.algo, sizeof(k.algo), stmt, 1);
		state_text_copy(k.path, sizeof(k.path), stmt, 2);
		k.signing = db_column_int(stmt, 3) != 0;
		k.created = db_column_int64(stmt, 4);
		fn(arg, &k);
	}
	db_finalize(stmt);
	return rc == DB_DONE ? 0 : adm_dbfail(st, err, errlen, "database error");
}

int
state_dkim_key_del(struct state *st, const char *domain, const char *selector,
    char *path, size_t pathsz, char *err, size_t errlen)
{
	struct state_domain_info d;
	struct db_stmt *stmt;
	int rc, signing = 0;

	if (state_domain_get(st, domain, &d, err, errlen) != 0)
		return -1;
	stmt = adm_prepare(st, err, errlen, "SELECT path, signing FROM dkim_keys WHERE domain_id = ?1"
	    " AND selector = ?2;", "It", d.id, selector);
	if (stmt == NULL)
		return -1;
	if ((rc = db_step(stmt)) == DB_ROW) {
		state_text_copy(path, pathsz, stmt, 0);
		signing = db_column_int(stmt, 1);
	}
	db_finalize(stmt);
	if (rc == DB_DONE)
		return adm_fail(err, errlen, "domain %s has no selector %s", d.name, selector);
	if (rc != DB_ROW)
		return adm_dbfail(st, err, errlen, "database error");
	if (signing)
		return adm_fail(err, errlen, "selector %s of %s still signs: run `domain rotate-key %s`"
		    " first", selector, d.name, d.name);
	return adm_exec(st, err, errlen, "DELETE FROM dkim_keys WHERE domain_id = ?1 AND"
	    " selector = ?2;", "It", d.id, selector) < 0 ? -1 : 0;
}

/* ---- connectors --------------------------------------------------------------- */

/* Check each domain of the comma list in is one of tenant tid's and write
 * the normalised list into out. */
static int
adm_connector_domains(struct state *st, long long tid, const char *in, char *out, size_t outsz,
    char *err, size_t errlen)
{
	char one[STATE_DOMAIN_MAX + 2], name[STATE_DOMAIN_MAX + 1];
	struct state_domain_info d;
	size_t used = 0, n;
	int rc;

	out[0] = '\0';
	for (const char *p = in; in[0] != '\0'; p += n + 1) {
		n = strcspn(p, ",");
		if (n >= sizeof(one))
			return adm_fail(err, errlen, "domain list: a name is too long");
		memcpy(one, p, n);
		one[n] = '\0';
		if (state_domain_norm(one, name, sizeof(name)) != 0)
			return adm_fail(err, errlen, "domain list: invalid domain '%s'", one);
		if ((rc = adm_domain_find(st, name, &d, err, errlen)) < 0)
			return -1;
		if (rc == 0 || d.tenant_id != tid)
			return adm_fail(err, errlen, "domain list: %s is not a domain of this tenant"
			    " (add it with `domain add` first)", name);
		if (used + strlen(name) + 2 > outsz)
			return adm_fail(err, errlen, "domain list too long");
		used += (size_t)snprintf(out + used, outsz - used, "%s%s", used ? "," : "", name);
		if (p[n] == '\0')
			break;
	}
	return 0;
}

int
state_connector_add(struct state *st, const char *tenant, const char *name,
    const char *network, const char *domains, const char *pool, char *err, size_t errlen)
{
	char list[STATE_DOMAINS_MAX + 1];
	struct netaddr_net net;
	long long tid, other;
	int rc;

	if (!state_name_valid(name))
		return adm_fail(err, errlen, "invalid connector name %s: 1 to %d of A-Z a-z 0-9 . _ -",
		    name, STATE_NAME_MAX);
	if (strlen(network) >= sizeof(((struct state_connector_info *)0)->network) ||
	    netaddr_net_parse(network, &net) != 0)
		return adm_fail(err, errlen, "invalid network %s (192.0.2.0/24, 2001:db8::/48 or an"
		    " address)", network);
	if (netaddr_net_too_wide(&net))
		return adm_fail(err, errlen, "network %s is wider than /8 (IPv4) or /16 (IPv6): its"
		    " clients would relay as the tenant", network);
	if (pool != NULL && pool[0] != '\0' && !state_name_valid(pool))
		return adm_fail(err, errlen, "invalid pool name %s", pool);
	if (adm_tenant_id(st, tenant, &tid, err, errlen) != 0 ||
	    adm_connector_domains(st, tid, domains != NULL ? domains : "", list, sizeof(list),
	    err, errlen) != 0)
		return -1;
	rc = adm_find_id(st, err, errlen, &other, "SELECT id FROM connectors WHERE name = ?1;", name, 0);
	if (rc != 0)
		return rc < 0 ? -1 : adm_fail(err, errlen, "connector %s already exists", name);
	return adm_exec(st, err, errlen, "INSERT INTO connectors(tenant_id, name, network, domains,"
	    " pool, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6);", "IttttI", tid, name, network, list,
	    pool != NULL ? pool : "", (long long)time(NULL)) < 0 ? -1 : 0;
}

int
state_connector_list(struct state *st, const char *tenant, state_connector_fn fn, void *arg,
    char *err, size_t errlen)
{
	struct state_connector_info c;
	struct db_stmt *stmt;
	long long tid = 0;
	int rc;

	if (tenant != NULL && adm_tenant_id(st, tenant, &tid, err, errlen) != 0)
		return -1;
	stmt = adm_prepare(st, err, errlen, "SELECT c.id, t.name, c.name, c.network, c.domains,"
	    " c.pool, c.per_minute, c.per_hour, c.per_day, c.rcpts, c.created FROM connectors c"
	    " JOIN tenants t ON t.id = c.tenant_id WHERE ?1 = 0 OR t.id = ?1"
	    " ORDER BY t.name, c.name;", "I", tid);
	if (stmt == NULL)
		return -1;
	while ((rc = db_step(stmt)) == DB_ROW) {
		memset(&c, 0, sizeof(c));
		c.id = db_column_int64(stmt, 0);
		state_text_copy(c.tenant, sizeof(c.tenant), stmt, 1);
		state_text_copy(c.name, sizeof(c.name), stmt, 2);
		state_text_copy(c.network, sizeof(c.network), stmt, 3);
		state_text_copy(c.domains, sizeof(c.domains), stmt, 4);
		state_text_copy(c.pool, sizeof(c.pool), stmt, 5);
		state_limits_read(&c.limits, stmt, 6);
		c.created = db_column_int64(stmt, 10);
		fn(arg, &c);
	}
	db_finalize(stmt);
	return rc == DB_DONE ? 0 : adm_dbfail(st, err, errlen, "database error");
}

static int
adm_connector_id(struct state *st, const char *tenant, const char *name, long long *id,
    char *err, size_t errlen)
{
	long long tid;
	int rc;

	if (adm_tenant_id(st, tenant, &tid, err, errlen) != 0)
		return -1;
	rc = adm_find_id(st, err, errlen, id, "SELECT id FROM connectors WHERE name = ?1 AND"
	    " tenant_id = ?2;", name, tid);
	if (rc == 0)
		return adm_fail(err, errlen, "tenant %s has no connector %s", tenant, name);
	return rc < 0 ? -1 : 0;
}

int
state_connector_del(struct state *st, const char *tenant, const char *name,
    char *err, size_t errlen)
{
	long long id;

	if (adm_connector_id(st, tenant, name, &id, err, errlen) != 0)
		return -1;
	return adm_changed(st, tenant, adm_exec(st, err, errlen, "DELETE FROM connectors WHERE id = ?1;",
	    "I", id) < 0 ? -1 : 0);
}

int
state_connector_limit(struct state *st, const char *tenant, const char *name,
    const struct state_limits *l, char *err, size_t errlen)
{
	long long id;

	if (adm_connector_id(st, tenant, name, &id, err, errlen) != 0)
		return -1;
	return adm_changed(st, tenant, adm_limits_set(st, "connectors", id, l, err, errlen));
}
