/*
 * conf_route.c - how mail leaves: "route DOMAIN|* TRANSPORT [options]"
 * lines, the TLS words smtp_tls and a route's tls= share, and the DKIM
 * keys of "dkim_sign DOMAIN SELECTOR KEYFILE" (RFC 6376), loaded here so
 * a bad key stops ferryd at start with the line that names it.
 * SECURITY: auth= holds a password; it is kept in struct conf and never
 * echoed in a message. Key files must be private (dkim_key_load checks).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conf/conf_internal.h"
#include "dkim/dkim.h"
#include "net/tls.h"
#include "util/xmalloc.h"

const struct conf_word conf_tls_words[] = {
	{ "none",    CONF_TLS_NONE },
	{ "may",     CONF_TLS_MAY },
	{ "require", CONF_TLS_REQUIRE },
	{ "verify",  CONF_TLS_VERIFY },
	{ NULL, 0 },
};

static int
conf_tls_word(const char *w, enum conf_tls *out)
{
	for (const struct conf_word *t = conf_tls_words; t->word != NULL; t++)
		if (strcmp(t->word, w) == 0) {
			*out = (enum conf_tls)t->value;
			return 0;
		}
	return -1;
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
	char words[128];

	if (strncmp(o, "tls=", 4) == 0) {
		if (conf_tls_word(o + 4, &r->tls) < 0)
			return conf_fail(p, "route: tls= takes %s",
			    conf_words_text(conf_tls_words, words, sizeof(words)));
	} else if (strcmp(o, "tls_verify=no") == 0) {
		r->tls_noverify = true;
	} else if (strncmp(o, "auth=", 5) == 0 && strchr(o + 5, ':') != NULL) {
		const char *colon = strchr(o + 5, ':');
		r->auth_user = xstrndup(o + 5, (size_t)(colon - o - 5));
		r->auth_pass = xstrdup(colon + 1);
	} else if (strncmp(o, "source=", 7) == 0) {
		if (!conf_ip_valid(o + 7))
			return conf_fail(p, "route: source= takes an IPv4 or IPv6 address, not '%s'", o + 7);
		r->source = xstrdup(o + 7);
	} else
		return conf_fail(p, "route: unknown option '%s' (tls=, tls_verify=no, auth=USER:PASS, source=IP)", o);
	return 0;
}

/* auth= sends a password: the peer must prove its name (tls=verify, the
 * default with auth=) unless the route accepts any certificate in writing. */
static int
conf_route_tls_check(struct conf_parse *p, struct conf_route *r)
{
	if (r->tls_noverify && r->tls != CONF_TLS_REQUIRE)
		return conf_fail(p, "route: tls_verify=no is only meaningful with tls=require "
		    "(write: tls=require tls_verify=no)");
	if (r->auth_user != NULL && (r->transport == CONF_TRANSPORT_MX ||
	    r->transport == CONF_TRANSPORT_MAILDIR))
		return conf_fail(p, "route: auth= needs a fixed next hop (smtp:HOST or lmtp:); "
		    "%s route would never use the password", r->transport == CONF_TRANSPORT_MX ?
		    "an mx" : "a maildir");
	if (r->auth_user == NULL || r->host == NULL)
		return 0;       /* no password, or a local socket */
	if (r->tls == CONF_TLS_DEFAULT)
		r->tls = CONF_TLS_VERIFY;
	if (r->tls == CONF_TLS_VERIFY || r->tls_noverify)
		return 0;
	return conf_fail(p, "route: auth= with tls=%s would send the password %s; write tls=verify "
	    "(the default with auth=), or tls=require tls_verify=no to accept an unverified certificate",
	    conf_tls_words[r->tls].word,
	    r->tls == CONF_TLS_REQUIRE ? "to an unverified peer" : "in clear or unverified");
}

/* The CAs for tls=verify must load at start, not at the first delivery. */
int
conf_ca_file_load(struct conf *c, const char *path, char *err, size_t errlen)
{
	(void)c;
	SSL_CTX *ctx = tls_client_ctx_new(path, err, errlen);

	if (ctx == NULL)
		return -1;
	SSL_CTX_free(ctx);
	return 0;
}

int
conf_route_add(struct conf_parse *p, char **argv, int argc)
{
	struct conf *c = p->c;
	struct conf_route *r;

	if (argc < 3)
		return conf_fail(p, "usage: route DOMAIN|* TRANSPORT [tls=..] [tls_verify=no] [auth=USER:PASS] [source=IP]");
	if (strcmp(argv[1], "*") != 0 && !conf_domain_valid(argv[1]))
		return conf_fail(p, "route: '%s' is not a valid domain name", argv[1]);
	if (conf_keys_unique(p, argv, argc, 3) < 0)
		return -1;
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
	return conf_route_tls_check(p, r);
}

static bool
conf_selector_valid(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 63 && strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") == n;
}

/* Messages name the key file, and the line through conf_fail. */
int
conf_dkim_add(struct conf_parse *p, char **argv, int argc)
{
	struct conf *c = p->c;
	char err[512], probe[300];
	struct dkim_key *k;
	struct stat st;

	if (argc != 4)
		return conf_fail(p, "usage: dkim_sign DOMAIN SELECTOR KEYFILE");
	snprintf(probe, sizeof(probe), "x@%s", argv[1]);
	if (!conf_address_valid(probe) || !conf_selector_valid(argv[2]))
		return conf_fail(p, "dkim_sign: bad domain '%s' or selector '%s'", argv[1], argv[2]);
	if (p->no_files)
		return 0;
	/* dkim_key_load would call a directory "not a usable key" */
	if (stat(argv[3], &st) == 0 && S_ISDIR(st.st_mode))
		return conf_fail(p, "dkim_sign: %s: is a directory", argv[3]);
	if ((k = dkim_key_load(argv[1], argv[2], argv[3], err, sizeof(err))) == NULL)
		return conf_fail(p, "dkim_sign: %s", err);
	c->dkim_keys = xrealloc(c->dkim_keys, (c->ndkim + 1) * sizeof(*c->dkim_keys));
	c->dkim_keys[c->ndkim++] = k;
	return 0;
}
