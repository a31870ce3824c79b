/*
 * conf.c - load ferry.conf into struct conf (conf_load), the embedded
 * default, the defaults that depend on other options, and the lookups the
 * other modules make (hosted domain, mailbox, alias, route, relay network).
 * The reader is conf_file.c, the option table conf_option.c; the layout of
 * src/conf/ is in conf_internal.h.
 * SECURITY: the file is trusted input from the administrator but is still
 * parsed with bounded lines; a config that would relay for anyone is refused
 * at its relay_networks line.
 */
#include "conf/conf.h"
#include "conf/conf_internal.h"
#include "db/db.h"
#include "dkim/dkim.h"
#include "shaping/shape_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/xmalloc.h"

/* Where `make install` puts the dashboard (dist/CMakeLists.txt sets it). */
#ifndef FERRY_WWW_DIR
#define FERRY_WWW_DIR "/usr/share/ferry/www"
#endif

/* The embedded default: loopback only, high ports, ./var, domain localhost. */
static void
conf_embedded_apply(struct conf *c)
{
	static const char *const listens[][2] = {
		{ "mx", "127.0.0.1:2525" },
		{ "submission", "127.0.0.1:2587" },
		{ "submissions", "127.0.0.1:2465" },
		{ "http", "127.0.0.1:8025" },
	};
	char *argv[3];
	struct conf_parse p = { .c = c, .file = "(embedded)", .seen = c->option_lines };
	char err[256];

	p.err = err;
	p.errlen = sizeof(err);
	for (size_t i = 0; i < sizeof(listens) / sizeof(listens[0]); i++) {
		argv[0] = "listen";
		argv[1] = (char *)listens[i][0];
		argv[2] = (char *)listens[i][1];
		conf_listen_add(&p, argv, 3);
	}
	argv[0] = "domain";
	argv[1] = "localhost";
	conf_domain_add(&p, argv, 2);
	argv[0] = "mailbox";
	argv[1] = "postmaster@localhost";
	conf_mailbox_add(&p, argv, 2);
	free(p.mailbox_lines);
	c->hostname = xstrdup("localhost");
}

int
conf_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
conf_alias_cmp(const void *a, const void *b)
{
	return strcmp(((const struct conf_alias *)a)->from, ((const struct conf_alias *)b)->from);
}

static char *
conf_path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *s = xmalloc(n);

	snprintf(s, n, "%s/%s", dir, name);
	return s;
}

/* The HTTP API's files: the admin token beside the state database (the
 * other secret ferryd makes); the dashboard from the source tree for the
 * embedded default (`make run`), else where `make install` puts it. */
static void
conf_http_finish(struct conf *c)
{
	/* PostgreSQL state: the token is the node's, in its spool */
	const char *base = db_is_pg_uri(c->state_db) ? c->spool_dir : c->state_db;
	const char *slash = db_is_pg_uri(c->state_db) ? base + strlen(base) : strrchr(base, '/');
	size_t n;

	if (c->http_admin_token_file == NULL) {
		n = slash != NULL ? (size_t)(slash - base) : 1;
		c->http_admin_token_file = xmalloc(n + sizeof("/admin.token"));
		snprintf(c->http_admin_token_file, n + sizeof("/admin.token"), "%.*s/admin.token", (int)n,
		    slash != NULL ? base : ".");
	}
	if (c->http_www_dir == NULL)
		c->http_www_dir = xstrdup(c->path == NULL ? "dist/www" : FERRY_WWW_DIR);
}

/* The submission socket for ferry-sendmail; "none" disables it. */
static void
conf_local_listener_add(struct conf *c)
{
	struct conf_listener *l;
	struct sockaddr_un *sun;

	if (strcmp(c->submit_socket, "none") == 0 || strlen(c->submit_socket) >= sizeof(sun->sun_path))
		return;
	c->listeners = xrealloc(c->listeners, (c->nlisteners + 1) * sizeof(*l));
	l = &c->listeners[c->nlisteners++];
	memset(l, 0, sizeof(*l));
	l->role = CONF_ROLE_LOCAL;
	l->text = xstrdup(c->submit_socket);
	sun = (struct sockaddr_un *)&l->ss;
	sun->sun_family = AF_UNIX;
	snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", c->submit_socket);
	l->sslen = sizeof(*sun);
}

/* Fill what depends on other options, sort the lookup tables. */
static void
conf_finish(struct conf *c)
{
	char host[256];

	c->run_user_default = c->run_user == NULL;
	if (c->run_user == NULL)
		c->run_user = xstrdup("ferry");
	if (c->hostname == NULL) {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		c->hostname = xstrdup(host);
	}
	if (c->spool_dir == NULL)
		c->spool_dir = xstrdup(c->path == NULL ? "./var" : "/var/spool/ferry");
	if (c->users_file == NULL)
		c->users_file = conf_path_join(c->spool_dir, "users");
	if (c->state_db == NULL)
		c->state_db = conf_path_join(c->spool_dir, "ferry.db");
	if (c->node_name == NULL)
		c->node_name = xstrdup(c->hostname);
	/* PostgreSQL state has no directory of its own: keys go where every
	 * node reads them (a shared directory; docs/cluster.md) */
	if (c->dkim_key_dir == NULL && db_is_pg_uri(c->state_db))
		c->dkim_key_dir = conf_path_join(c->spool_dir, "dkim");
	if (c->maildir_root == NULL)
		c->maildir_root = conf_path_join(c->spool_dir, "mail");
	if (c->control_socket == NULL)
		c->control_socket = conf_path_join(c->spool_dir, "control.sock");
	if (c->submit_socket == NULL)
		c->submit_socket = conf_path_join(c->spool_dir, "submit.sock");
	if (c->postmaster == NULL) {
		size_t n = strlen(c->hostname) + 12;
		c->postmaster = xmalloc(n);
		snprintf(c->postmaster, n, "postmaster@%s", c->hostname);
	}
	if (c->complaint_local_part == NULL)
		c->complaint_local_part = xstrdup("fbl");
	conf_http_finish(c);
	conf_local_listener_add(c);
	conf_shaping_finish(c);
	conf_bounce_finish(c);
	if (c->tls_cert == NULL && c->tls_key == NULL) {
		c->tls_cert = conf_path_join(c->spool_dir, "tls/cert.pem");
		c->tls_key = conf_path_join(c->spool_dir, "tls/key.pem");
		c->tls_generate = true;
	}
	if (c->ndomains > 0)
		qsort(c->domains, c->ndomains, sizeof(char *), conf_strcmp);
	if (c->nmailboxes > 0)
		qsort(c->mailboxes, c->nmailboxes, sizeof(char *), conf_strcmp);
	if (c->naliases > 0)
		qsort(c->aliases, c->naliases, sizeof(*c->aliases), conf_alias_cmp);
}

const char *
conf_env_path(void)
{
	const char *env = getenv("FERRY_CONFIG");

	return env != NULL && env[0] != '\0' ? env : NULL;
}

struct conf *
conf_load(const char *path, char *err, size_t errlen)
{
	return conf_load_flags(path, 0, err, errlen);
}

struct conf *
conf_load_flags(const char *path, unsigned flags, char *err, size_t errlen)
{
	struct conf *c = xcalloc(1, sizeof(*c));
	struct conf_parse p = { .c = c, .file = path, .err = err, .errlen = errlen,
	    .no_files = (flags & CONF_LOAD_NO_FILES) != 0 };
	int rc = 0;

	c->option_lines = xcalloc(CONF_OPTIONS_MAX, sizeof(int));
	p.seen = c->option_lines;

	conf_options_default(c);
	if (path == NULL)
		conf_embedded_apply(c);
	else {
		c->path = xstrdup(path);
		rc = conf_file_read(&p);
		if (rc == 0)
			rc = conf_lines_check(&p);
	}
	free(p.mailbox_lines);
	free(p.alias_lines);
	if (rc < 0) {
		conf_free(c);
		return NULL;
	}
	conf_finish(c);
	return c;
}

static bool
conf_str_differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

/* What ferryd opened or became at start and keeps until it exits: the
 * queue and its lock, the state database, the two sockets, the user. */
const char *
conf_restart_needed(const struct conf *run, const struct conf *next)
{
	const struct { const char *name; const char *run, *next; } fixed[] = {
		{ "spool_dir", run->spool_dir, next->spool_dir },
		{ "state_db", run->state_db, next->state_db },
		{ "control_socket", run->control_socket, next->control_socket },
		{ "submit_socket", run->submit_socket, next->submit_socket },
		{ "user", run->run_user, next->run_user },
	};

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (conf_str_differs(fixed[i].run, fixed[i].next))
			return fixed[i].name;
	return NULL;
}

static void
conf_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c->hostname);
	free(c->spool_dir);
	free(c->users_file);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->tls_ca_file);
	free(c->run_user);
	free(c->log_file);
	free(c->log_level);
	conf_milters_free(c);
	for (size_t i = 0; i < c->nlisteners; i++) {
		free(c->listeners[i].text);
		free(c->listeners[i].source);
	}
	free(c->listeners);
	for (size_t i = 0; i < c->nhttp_listeners; i++)
		free(c->http_listeners[i].text);
	free(c->http_listeners);
	free(c->http_admin_token_file);
	free(c->http_www_dir);
	conf_strv_free(c->domains, c->ndomains);
	conf_strv_free(c->mailboxes, c->nmailboxes);
	for (size_t i = 0; i < c->naliases; i++) {
		free(c->aliases[i].from);
		conf_strv_free(c->aliases[i].to, c->aliases[i].nto);
	}
	free(c->aliases);
	free(c->relay_nets);
	free(c->dns_servers);
	free(c->maildir_root);
	free(c->control_socket);
	free(c->submit_socket);
	free(c->postmaster);
	free(c->complaint_local_part);
	free(c->outbound_source);
	free(c->state_db);
	free(c->node_name);
	free(c->dkim_key_dir);
	free(c->http_public_url);
	free(c->counters);
	free(c->shaping_rules);
	shape_rules_free(c->shaping);
	conf_bounce_free(c);
	conf_pools_free(c);
	for (size_t i = 0; i < c->nroutes; i++) {
		struct conf_route *r = &c->routes[i];
		free(r->domain);
		free(r->host);
		free(r->path);
		free(r->auth_user);
		free(r->auth_pass);
		free(r->source);
	}
	free(c->routes);
	for (size_t i = 0; i < c->ndkim; i++)
		dkim_key_free(c->dkim_keys[i]);
	free(c->dkim_keys);
	free(c->option_lines);
	free(c);
}

const struct conf_route *
conf_route_find(const struct conf *c, const char *domain)
{
	static const struct conf_route local = { .transport = CONF_TRANSPORT_MAILDIR, .tls = CONF_TLS_DEFAULT };
	const struct conf_route *any = NULL;

	for (size_t i = 0; i < c->nroutes; i++) {
		if (strcmp(c->routes[i].domain, domain) == 0)
			return &c->routes[i];
		if (strcmp(c->routes[i].domain, "*") == 0)
			any = &c->routes[i];
	}
	if (conf_domain_hosted(c, domain))
		return &local;
	return any;
}

static bool
conf_strv_has(char *const *v, size_t n, const char *s)
{
	return n > 0 && bsearch(&s, v, n, sizeof(char *), conf_strcmp) != NULL;
}

bool
conf_domain_hosted(const struct conf *c, const char *domain)
{
	return conf_strv_has(c->domains, c->ndomains, domain);
}

bool
conf_mailbox_exists(const struct conf *c, const char *addr)
{
	return conf_strv_has(c->mailboxes, c->nmailboxes, addr);
}

const struct conf_alias *
conf_alias_find(const struct conf *c, const char *addr)
{
	struct conf_alias key = { .from = (char *)addr };

	if (c->naliases == 0)
		return NULL;
	return bsearch(&key, c->aliases, c->naliases, sizeof(key), conf_alias_cmp);
}

/* The alias for addr, else (unless addr is a mailbox) its domain's catch-all. */
const struct conf_alias *
conf_alias_lookup(const struct conf *c, const char *addr)
{
	const struct conf_alias *a = conf_alias_find(c, addr);
	const char *at = strrchr(addr, '@');

	if (a != NULL || at == NULL || conf_mailbox_exists(c, addr))
		return a;
	return conf_alias_find(c, at);
}

bool
conf_relay_net_match(const struct conf *c, const struct sockaddr *sa)
{
	for (size_t i = 0; i < c->nrelay_nets; i++)
		if (netaddr_net_match(&c->relay_nets[i], sa))
			return true;
	return false;
}

const char *
conf_role_name(enum conf_role r)
{
	switch (r) {
	case CONF_ROLE_MX:          return "mx";
	case CONF_ROLE_SUBMISSION:  return "submission";
	case CONF_ROLE_SUBMISSIONS: return "submissions";
	case CONF_ROLE_LOCAL:       return "local";
	case CONF_ROLE_HTTP:        return "http";
	case CONF_ROLE_HTTPS:       return "https";
	}
	return "?";
}
