/*
 * conf.c - parse ferry.conf into struct conf. Integer options live in one
 * table with their minimum, maximum and default (as Redis does), so limits
 * are checked in one place and documented in one place
 * (docs/configuration.md).
 * SECURITY: the file is trusted input from the administrator but is still
 * parsed with bounded lines; a config that would relay for anyone is refused
 * by conf_check().
 */
#include "conf/conf.h"
#include "conf/conf_internal.h"
#include "dkim/dkim.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/xmalloc.h"

#define CONF_LINE_MAX 4096
#define CONF_ARGS_MAX 64

enum conf_unit { UNIT_NONE, UNIT_SIZE, UNIT_TIME };

struct conf_int {
	const char    *name;
	size_t         off;
	long long      min, max, def;
	enum conf_unit unit;
};

#define CI(n, mn, mx, df, u) { #n, offsetof(struct conf, n), mn, mx, df, u }
static const struct conf_int conf_ints[] = {
	CI(workers,                    0, 256, 0, UNIT_NONE),   /* 0: one per core */
	/* the spool's content record has a 32-bit length */
	CI(max_message_size,           1024, 1LL << 31, 36700160, UNIT_SIZE),
	CI(max_recipients,             100, 100000, 1000, UNIT_NONE),
	CI(max_line_length,            1000, 1000000, 1000, UNIT_SIZE),
	CI(max_connections,            1, 1000000, 20000, UNIT_NONE),
	CI(max_connections_per_client, 1, 1000000, 50, UNIT_NONE),
	CI(listen_backlog,             0, 1000000, 0, UNIT_NONE),   /* 0: net.core.somaxconn */
	CI(max_errors,                 1, 1000, 20, UNIT_NONE),
	CI(auth_max_failures,          1, 100, 3, UNIT_NONE),
	CI(timeout_command,            1, 86400, 300, UNIT_TIME),
	CI(timeout_data,               1, 86400, 180, UNIT_TIME),
	CI(timeout_shutdown,           0, 86400, 30, UNIT_TIME),
	CI(delivery_threads,           1, 1000, 20, UNIT_NONE),
	CI(retry_min,                  1, 86400, 300, UNIT_TIME),
	CI(retry_max,                  1, 7 * 86400, 3600, UNIT_TIME),
	CI(max_queue_lifetime,         0, 365 * 86400, 5 * 86400, UNIT_TIME),
	CI(delay_warning,              0, 365 * 86400, 4 * 3600, UNIT_TIME),
	CI(smtp_port,                  1, 65535, 25, UNIT_NONE),
	CI(destination_concurrency,    1, 10000, 20, UNIT_NONE),
	CI(destination_msgs_per_conn,  1, 1000000, 100, UNIT_NONE),
	CI(destination_rate,           0, 10000000, 0, UNIT_NONE),
	CI(dns_timeout,                1, 300, 10, UNIT_TIME),
	CI(connect_timeout,            1, 300, 30, UNIT_TIME),
	CI(smtp_timeout,               1, 3600, 300, UNIT_TIME),
};
#undef CI

int
conf_fail(struct conf_parse *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(p->err, p->errlen, "%s:%d: ", p->file, p->line);
	if (n < 0 || (size_t)n >= p->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - n, fmt, ap);
	va_end(ap);
	return -1;
}

static void
conf_lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Parse "10", "10k", "35m", "1g" (sizes) or "30", "30s", "5m", "1h", "1d". */
static int
conf_number_parse(const char *s, enum conf_unit unit, long long *out)
{
	char *end;
	long long v, mul = 1;

	errno = 0;
	if (!isdigit((unsigned char)s[0]))
		return -1;
	v = strtoll(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end != '\0') {
		char u = (char)tolower((unsigned char)*end);
		if (end[1] != '\0')
			return -1;
		if (unit == UNIT_SIZE && u == 'k') mul = 1024;
		else if (unit == UNIT_SIZE && u == 'm') mul = 1024 * 1024;
		else if (unit == UNIT_SIZE && u == 'g') mul = 1024LL * 1024 * 1024;
		else if (unit == UNIT_TIME && u == 's') mul = 1;
		else if (unit == UNIT_TIME && u == 'm') mul = 60;
		else if (unit == UNIT_TIME && u == 'h') mul = 3600;
		else if (unit == UNIT_TIME && u == 'd') mul = 86400;
		else return -1;
	}
	if (v > (1LL << 50) / mul)
		return -1;
	*out = v * mul;
	return 0;
}

static int
conf_int_set(struct conf_parse *p, size_t i, char **argv, int argc)
{
	const struct conf_int *ci = &conf_ints[i];
	long long v;

	if (argc != 2)
		return conf_fail(p, "%s takes one value", ci->name);
	if (p->seen & (1u << i))
		return conf_fail(p, "%s is set twice", ci->name);
	p->seen |= 1u << i;
	if (conf_number_parse(argv[1], ci->unit, &v) < 0)
		return conf_fail(p, "%s: '%s' is not a number%s", ci->name, argv[1],
		    ci->unit == UNIT_SIZE ? " (suffix k, m or g allowed)" :
		    ci->unit == UNIT_TIME ? " (suffix s, m, h or d allowed)" : "");
	if (v < ci->min || v > ci->max)
		return conf_fail(p, "%s: %lld is out of range [%lld, %lld]", ci->name, v,
		    ci->min, ci->max);
	*(long long *)((char *)p->c + ci->off) = v;
	return 0;
}

static int
conf_str_set(struct conf_parse *p, int slot, char **dst, char **argv, int argc)
{
	if (argc != 2)
		return conf_fail(p, "%s takes one value", argv[0]);
	if (p->seen_str[slot])
		return conf_fail(p, "%s is set twice", argv[0]);
	p->seen_str[slot] = true;
	free(*dst);
	*dst = xstrdup(argv[1]);
	return 0;
}


static int
conf_listen_add(struct conf_parse *p, char **argv, int argc)
{
	struct conf *c = p->c;
	struct conf_listener *l;
	enum conf_role role;

	if (argc != 3 && argc != 4)
		return conf_fail(p, "usage: listen mx|submission|submissions ADDRESS:PORT [source=IP]");
	if (argc == 4 && (strncmp(argv[3], "source=", 7) != 0 || !netaddr_ip_parse(argv[3] + 7, NULL, NULL)))
		return conf_fail(p, "listen: '%s' is not source=IP (an IPv4 or IPv6 address)", argv[3]);
	if (strcmp(argv[1], "mx") == 0) role = CONF_ROLE_MX;
	else if (strcmp(argv[1], "submission") == 0) role = CONF_ROLE_SUBMISSION;
	else if (strcmp(argv[1], "submissions") == 0) role = CONF_ROLE_SUBMISSIONS;
	else return conf_fail(p, "listen: unknown role '%s' (mx, submission or submissions)", argv[1]);
	c->listeners = xrealloc(c->listeners, (c->nlisteners + 1) * sizeof(*l));
	l = &c->listeners[c->nlisteners];
	memset(l, 0, sizeof(*l));
	if (netaddr_listen_parse(argv[2], &l->ss, &l->sslen) < 0)
		return conf_fail(p, "listen: bad address '%s' (want IP:PORT, [IPv6]:PORT or *:PORT)", argv[2]);
	l->role = role;
	l->text = xstrdup(argv[2]);
	l->source = argc == 4 ? xstrdup(argv[3] + 7) : NULL;
	c->nlisteners++;
	return 0;
}

static bool
conf_domain_valid(const char *d)
{
	size_t len = strlen(d), label = 0;

	if (len == 0 || len > 255 || d[0] == '.' || d[len - 1] == '.' || d[len - 1] == '-')
		return false;
	for (; *d; d++) {
		unsigned char ch = (unsigned char)*d;
		if (ch == '-' && (label == 0 || d[1] == '.'))
			return false;   /* no hyphen at either end of a label */
		if (ch == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum(ch) || ch == '-' || ch >= 0x80) {
			if (++label > 63)
				return false;
		} else
			return false;
	}
	return true;
}

static bool
conf_address_valid(const char *a)
{
	const char *at = strrchr(a, '@');

	if (at == NULL || at == a || (size_t)(at - a) > 64 || strlen(a) > 256)
		return false;
	for (const char *s = a; s < at; s++)
		if ((unsigned char)*s <= ' ' || *s == '<' || *s == '>' || *s == ',')
			return false;
	return conf_domain_valid(at + 1);
}

static void
conf_strv_push(char ***v, size_t *n, const char *s)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(char *));
	(*v)[*n] = xstrdup(s);
	conf_lower((*v)[*n]);
	(*n)++;
}

static int
conf_domain_add(struct conf_parse *p, char **argv, int argc)
{
	if (argc < 2)
		return conf_fail(p, "usage: domain NAME...");
	for (int i = 1; i < argc; i++) {
		if (!conf_domain_valid(argv[i]))
			return conf_fail(p, "domain: '%s' is not a valid domain name", argv[i]);
		conf_strv_push(&p->c->domains, &p->c->ndomains, argv[i]);
	}
	return 0;
}

static int
conf_mailbox_add(struct conf_parse *p, char **argv, int argc)
{
	if (argc < 2)
		return conf_fail(p, "usage: mailbox ADDRESS...");
	for (int i = 1; i < argc; i++) {
		if (!conf_address_valid(argv[i]))
			return conf_fail(p, "mailbox: '%s' is not a valid address (local@domain)", argv[i]);
		conf_strv_push(&p->c->mailboxes, &p->c->nmailboxes, argv[i]);
	}
	return 0;
}

static int
conf_alias_add(struct conf_parse *p, char **argv, int argc)
{
	struct conf *c = p->c;
	struct conf_alias *a;

	if (argc < 3)
		return conf_fail(p, "usage: alias ADDRESS TARGET...");
	for (int i = 1; i < argc; i++) {
		char probe[1024];
		/* "@domain" as the alias is the domain's catch-all */
		snprintf(probe, sizeof(probe), "%s%s", i == 1 && argv[i][0] == '@' ? "x" : "", argv[i]);
		if (!conf_address_valid(probe))
			return conf_fail(p, "alias: '%s' is not a valid address (local@domain)", argv[i]);
	}
	c->aliases = xrealloc(c->aliases, (c->naliases + 1) * sizeof(*a));
	a = &c->aliases[c->naliases++];
	memset(a, 0, sizeof(*a));
	a->from = xstrdup(argv[1]);
	conf_lower(a->from);
	for (int i = 2; i < argc; i++)
		conf_strv_push(&a->to, &a->nto, argv[i]);
	return 0;
}

static int
conf_relay_nets_add(struct conf_parse *p, char **argv, int argc)
{
	struct conf *c = p->c;

	for (int i = 1; i < argc; i++) {
		c->relay_nets = xrealloc(c->relay_nets, (c->nrelay_nets + 1) * sizeof(*c->relay_nets));
		if (netaddr_net_parse(argv[i], &c->relay_nets[c->nrelay_nets]) < 0)
			return conf_fail(p, "relay_networks: '%s' is not an address or CIDR network", argv[i]);
		c->nrelay_nets++;
	}
	return 0;
}

static int
conf_choice_set(struct conf_parse *p, bool *dst, const char *yes, const char *no,
    char **argv, int argc)
{
	if (argc != 2)
		return conf_fail(p, "%s takes one value (%s or %s)", argv[0], yes, no);
	if (strcmp(argv[1], yes) == 0)
		*dst = true;
	else if (strcmp(argv[1], no) == 0)
		*dst = false;
	else
		return conf_fail(p, "%s: '%s' is not %s or %s", argv[0], argv[1], yes, no);
	return 0;
}

static int
conf_tls_word(const char *w, enum conf_tls *out)
{
	if (strcmp(w, "none") == 0) *out = CONF_TLS_NONE;
	else if (strcmp(w, "may") == 0) *out = CONF_TLS_MAY;
	else if (strcmp(w, "require") == 0) *out = CONF_TLS_REQUIRE;
	else return -1;
	return 0;
}

static int
conf_tls_set(struct conf_parse *p, enum conf_tls *dst, char **argv, int argc)
{
	if (argc != 2 || conf_tls_word(argv[1], dst) < 0)
		return conf_fail(p, "%s takes one value: none, may or require", argv[0]);
	return 0;
}

/* "smtp:HOST[:PORT]", "lmtp:HOST:PORT", "lmtp:/PATH", "maildir", "mx". */
static int
conf_route_target(struct conf_parse *p, struct conf_route *r, const char *t)
{
	const char *rest, *colon;
	char *end;
	long port;

	if (strcmp(t, "maildir") == 0) { r->transport = CONF_TRANSPORT_MAILDIR; return 0; }
	if (strcmp(t, "mx") == 0)      { r->transport = CONF_TRANSPORT_MX; return 0; }
	if (strncmp(t, "smtp:", 5) == 0)      { r->transport = CONF_TRANSPORT_SMTP; rest = t + 5; }
	else if (strncmp(t, "lmtp:", 5) == 0) { r->transport = CONF_TRANSPORT_LMTP; rest = t + 5; }
	else return conf_fail(p, "route: unknown transport '%s' (mx, maildir, smtp:HOST[:PORT], lmtp:HOST:PORT or lmtp:/PATH)", t);
	if (r->transport == CONF_TRANSPORT_LMTP && rest[0] == '/') {
		r->path = xstrdup(rest);
		return 0;
	}
	colon = strrchr(rest, ':');
	r->port = r->transport == CONF_TRANSPORT_SMTP ? 25 : 24;
	if (colon != NULL) {
		port = strtol(colon + 1, &end, 10);
		if (*end != '\0' || port < 1 || port > 65535)
			return conf_fail(p, "route: bad port in '%s'", t);
		r->port = (int)port;
	}
	r->host = xstrndup(rest, colon ? (size_t)(colon - rest) : strlen(rest));
	if (r->host[0] == '[' && r->host[strlen(r->host) - 1] == ']') {
		memmove(r->host, r->host + 1, strlen(r->host));
		r->host[strlen(r->host) - 1] = '\0';
	}
	if (r->host[0] == '\0')
		return conf_fail(p, "route: no host in '%s'", t);
	return 0;
}

static int
conf_route_option(struct conf_parse *p, struct conf_route *r, const char *o)
{
	if (strncmp(o, "tls=", 4) == 0) {
		if (conf_tls_word(o + 4, &r->tls) < 0)
			return conf_fail(p, "route: tls= takes none, may or require");
	} else if (strncmp(o, "auth=", 5) == 0 && strchr(o + 5, ':') != NULL) {
		const char *colon = strchr(o + 5, ':');
		r->auth_user = xstrndup(o + 5, (size_t)(colon - o - 5));
		r->auth_pass = xstrdup(colon + 1);
	} else if (strncmp(o, "source=", 7) == 0) {
		if (!netaddr_ip_parse(o + 7, NULL, NULL))
			return conf_fail(p, "route: source= takes an IPv4 or IPv6 address, not '%s'", o + 7);
		r->source = xstrdup(o + 7);
	} else
		return conf_fail(p, "route: unknown option '%s' (tls=, auth=USER:PASS, source=IP)", o);
	return 0;
}

static int
conf_dkim_add(struct conf_parse *p, char **argv, int argc)
{
	struct conf *c = p->c;
	char err[512], probe[300];
	struct dkim_key *k;

	if (argc != 4)
		return conf_fail(p, "usage: dkim_sign DOMAIN SELECTOR KEYFILE");
	snprintf(probe, sizeof(probe), "x@%s", argv[1]);
	if (!conf_address_valid(probe) || strlen(argv[2]) == 0 || strlen(argv[2]) > 63 ||
	    strspn(argv[2], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") != strlen(argv[2]))
		return conf_fail(p, "dkim_sign: bad domain '%s' or selector '%s'", argv[1], argv[2]);
	if ((k = dkim_key_load(argv[1], argv[2], argv[3], err, sizeof(err))) == NULL)
		return conf_fail(p, "dkim_sign: %s", err);
	c->dkim_keys = xrealloc(c->dkim_keys, (c->ndkim + 1) * sizeof(*c->dkim_keys));
	c->dkim_keys[c->ndkim++] = k;
	return 0;
}

static int
conf_route_add(struct conf_parse *p, char **argv, int argc)
{
	struct conf *c = p->c;
	struct conf_route *r;

	if (argc < 3)
		return conf_fail(p, "usage: route DOMAIN|* TRANSPORT [tls=..] [auth=USER:PASS] [source=IP]");
	if (strcmp(argv[1], "*") != 0 && !conf_domain_valid(argv[1]))
		return conf_fail(p, "route: '%s' is not a valid domain name", argv[1]);
	c->routes = xrealloc(c->routes, (c->nroutes + 1) * sizeof(*r));
	r = &c->routes[c->nroutes++];
	memset(r, 0, sizeof(*r));
	r->tls = CONF_TLS_DEFAULT;
	r->domain = xstrdup(argv[1]);
	conf_lower(r->domain);
	if (conf_route_target(p, r, argv[2]) < 0)
		return -1;
	for (int i = 3; i < argc; i++)
		if (conf_route_option(p, r, argv[i]) < 0)
			return -1;
	return 0;
}

static int
conf_option_apply(struct conf_parse *p, char **argv, int argc)
{
	struct conf *c = p->c;
	const char *k = argv[0];

	for (size_t i = 0; i < sizeof(conf_ints) / sizeof(conf_ints[0]); i++)
		if (strcmp(k, conf_ints[i].name) == 0)
			return conf_int_set(p, i, argv, argc);
	if (strcmp(k, "hostname") == 0)   return conf_str_set(p, 0, &c->hostname, argv, argc);
	if (strcmp(k, "spool_dir") == 0)  return conf_str_set(p, 1, &c->spool_dir, argv, argc);
	if (strcmp(k, "users_file") == 0) return conf_str_set(p, 2, &c->users_file, argv, argc);
	if (strcmp(k, "tls_cert") == 0)   return conf_str_set(p, 3, &c->tls_cert, argv, argc);
	if (strcmp(k, "tls_key") == 0)    return conf_str_set(p, 4, &c->tls_key, argv, argc);
	if (strcmp(k, "log_file") == 0)   return conf_str_set(p, 6, &c->log_file, argv, argc);
	if (strcmp(k, "log_level") == 0)  return conf_str_set(p, 7, &c->log_level, argv, argc);
	if (strcmp(k, "user") == 0) {
		c->run_user_default = false;
		return conf_str_set(p, 5, &c->run_user, argv, argc);
	}
	if (strcmp(k, "dns_servers") == 0)    return conf_str_set(p, 8, &c->dns_servers, argv, argc);
	if (strcmp(k, "maildir_root") == 0)   return conf_str_set(p, 9, &c->maildir_root, argv, argc);
	if (strcmp(k, "control_socket") == 0) return conf_str_set(p, 10, &c->control_socket, argv, argc);
	if (strcmp(k, "submit_socket") == 0)  return conf_str_set(p, 11, &c->submit_socket, argv, argc);
	if (strcmp(k, "postmaster") == 0)     return conf_str_set(p, 12, &c->postmaster, argv, argc);
	if (strcmp(k, "state_db") == 0)       return conf_str_set(p, 14, &c->state_db, argv, argc);
	if (strcmp(k, "pool") == 0)           return conf_pool_add(p, argv, argc);
	if (strcmp(k, "pool_address") == 0)   return conf_pool_address_add(p, argv, argc);
	if (strcmp(k, "provider") == 0)       return conf_provider_add(p, argv, argc);
	if (strcmp(k, "outbound_source") == 0) {
		if (argc == 2 && !netaddr_ip_parse(argv[1], NULL, NULL))
			return conf_fail(p, "outbound_source: '%s' is not an IPv4 or IPv6 address", argv[1]);
		return conf_str_set(p, 13, &c->outbound_source, argv, argc);
	}
	if (strcmp(k, "smtp_tls") == 0)       return conf_tls_set(p, &c->smtp_tls, argv, argc);
	if (strcmp(k, "route") == 0)          return conf_route_add(p, argv, argc);
	if (strcmp(k, "dkim_sign") == 0)      return conf_dkim_add(p, argv, argc);
	if (strcmp(k, "listen") == 0)         return conf_listen_add(p, argv, argc);
	if (strcmp(k, "domain") == 0)         return conf_domain_add(p, argv, argc);
	if (strcmp(k, "mailbox") == 0)        return conf_mailbox_add(p, argv, argc);
	if (strcmp(k, "alias") == 0)          return conf_alias_add(p, argv, argc);
	if (strcmp(k, "relay_networks") == 0) return conf_relay_nets_add(p, argv, argc);
	if (strcmp(k, "bare_lf") == 0)
		return conf_choice_set(p, &c->reject_bare_lf, "reject", "normalize", argv, argc);
	if (strcmp(k, "delivery") == 0)
		return conf_choice_set(p, &c->delivery_on, "on", "off", argv, argc);
	if (strcmp(k, "spool_sync") == 0)
		return conf_choice_set(p, &c->spool_syncfs, "syncfs", "fsync", argv, argc);
	if (strcmp(k, "log_format") == 0)
		return conf_choice_set(p, &c->log_json, "json", "text", argv, argc);
	if (strcmp(k, "log_syslog") == 0)
		return conf_choice_set(p, &c->log_syslog, "yes", "no", argv, argc);
	return conf_fail(p, "unknown option '%s'", k);
}

/* Split a line into whitespace-separated words; '#' starts a comment. */
static int
conf_line_split(char *line, char **argv)
{
	int argc = 0;
	char *s = line;

	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
			s++;
		if (*s == '\0' || *s == '#')
			return argc;
		if (argc == CONF_ARGS_MAX)
			return -1;
		argv[argc++] = s;
		while (*s && *s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
			s++;
		if (*s)
			*s++ = '\0';
	}
}

static int
conf_file_parse(struct conf_parse *p, FILE *f)
{
	char line[CONF_LINE_MAX];
	char *argv[CONF_ARGS_MAX];
	int argc;

	while (fgets(line, sizeof(line), f) != NULL) {
		p->line++;
		if (strchr(line, '\n') == NULL && !feof(f))
			return conf_fail(p, "line too long (max %d)", CONF_LINE_MAX - 2);
		for (char *s = line; *s; s++)
			if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\r' && *s != '\n')
				return conf_fail(p, "control character in line");
		argc = conf_line_split(line, argv);
		if (argc < 0)
			return conf_fail(p, "too many values (max %d)", CONF_ARGS_MAX - 1);
		if (argc > 0 && conf_option_apply(p, argv, argc) < 0)
			return -1;
	}
	if (ferror(f))
		return conf_fail(p, "read error: %s", strerror(errno));
	return 0;
}

static void
conf_defaults_apply(struct conf *c)
{
	for (size_t i = 0; i < sizeof(conf_ints) / sizeof(conf_ints[0]); i++)
		*(long long *)((char *)c + conf_ints[i].off) = conf_ints[i].def;
	c->run_user = xstrdup("ferry");
	c->run_user_default = true;
	c->spool_syncfs = true;
	c->smtp_tls = CONF_TLS_MAY;
	c->delivery_on = true;
}

/* The embedded default: loopback only, high ports, ./var, domain localhost. */
static void
conf_embedded_apply(struct conf *c)
{
	static const char *const listens[][2] = {
		{ "mx", "127.0.0.1:2525" },
		{ "submission", "127.0.0.1:2587" },
		{ "submissions", "127.0.0.1:2465" },
	};
	char *argv[3];
	struct conf_parse p = { .c = c, .file = "(embedded)" };
	char err[256];

	p.err = err;
	p.errlen = sizeof(err);
	for (size_t i = 0; i < 3; i++) {
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
	c->hostname = xstrdup("localhost");
}

static int
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
	conf_local_listener_add(c);
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

struct conf *
conf_load(const char *path, char *err, size_t errlen)
{
	struct conf *c = xcalloc(1, sizeof(*c));
	struct conf_parse p = { .c = c, .file = path, .err = err, .errlen = errlen };
	FILE *f;

	conf_defaults_apply(c);
	if (path == NULL) {
		conf_embedded_apply(c);
		conf_finish(c);
		return c;
	}
	c->path = xstrdup(path);
	f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		conf_free(c);
		return NULL;
	}
	if (conf_file_parse(&p, f) < 0) {
		fclose(f);
		conf_free(c);
		return NULL;
	}
	fclose(f);
	if (c->tls_cert != NULL && c->tls_key == NULL) {
		snprintf(err, errlen, "%s: tls_cert is set but tls_key is not", path);
		conf_free(c);
		return NULL;
	}
	if (c->tls_key != NULL && c->tls_cert == NULL) {
		snprintf(err, errlen, "%s: tls_key is set but tls_cert is not", path);
		conf_free(c);
		return NULL;
	}
	conf_finish(c);
	return c;
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
	free(c->run_user);
	free(c->log_file);
	free(c->log_level);
	for (size_t i = 0; i < c->nlisteners; i++) {
		free(c->listeners[i].text);
		free(c->listeners[i].source);
	}
	free(c->listeners);
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
	free(c->outbound_source);
	free(c->state_db);
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

/* A network this wide is "everyone": refuse it, whatever the intent. */
int
conf_check(const struct conf *c, char *err, size_t errlen)
{
	const char *file = c->path ? c->path : "(embedded)";

	for (size_t i = 0; i < c->nrelay_nets; i++)
		if (netaddr_net_too_wide(&c->relay_nets[i])) {
			snprintf(err, errlen, "%s: relay_networks contains a network wider than /8 "
			    "(IPv4) or /16 (IPv6): that would be an open relay", file);
			return -1;
		}
	if (c->nlisteners == 0 || (c->nlisteners == 1 && c->listeners[0].role == CONF_ROLE_LOCAL)) {
		snprintf(err, errlen, "%s: no listen lines: ferryd would accept nothing", file);
		return -1;
	}
	for (size_t i = 0; i < c->naliases; i++) {
		const char *at = strrchr(c->aliases[i].from, '@');
		if (!conf_domain_hosted(c, at + 1)) {
			snprintf(err, errlen, "%s: alias %s is not in a hosted domain (add a 'domain' line)",
			    file, c->aliases[i].from);
			return -1;
		}
	}
	for (size_t i = 0; i < c->nmailboxes; i++) {
		const char *at = strrchr(c->mailboxes[i], '@');
		if (!conf_domain_hosted(c, at + 1)) {
			snprintf(err, errlen, "%s: mailbox %s is not in a hosted domain (add a 'domain' line)",
			    file, c->mailboxes[i]);
			return -1;
		}
	}
	return 0;
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
	}
	return "?";
}
