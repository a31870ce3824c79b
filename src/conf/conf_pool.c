/*
 * conf_pool.c - IP pools (named sets of source addresses, with warm-up
 * schedules) and provider limits keyed by MX host pattern.
 *   pool NAME [select=round-robin|weighted]
 *   pool_address NAME IP [ehlo=HOST] [weight=N] [warmup=N,N,...] [warmup_start=YYYY-MM-DD]
 *   provider NAME PATTERN[,PATTERN...] [connections=N] [rate=N]
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "conf/conf.h"
#include "conf/conf_internal.h"
#include "util/netaddr.h"
#include "util/xmalloc.h"

#define CONF_WARMUP_MAX 365

static bool
conf_pool_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
			return false;
	return true;
}

const struct conf_pool *
conf_pool_find(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->npools; i++)
		if (strcmp(c->pools[i].name, name) == 0)
			return &c->pools[i];
	return NULL;
}

int
conf_pool_add(struct conf_parse *p, char **argv, int argc)
{
	struct conf *c = p->c;
	struct conf_pool *pool;

	if (argc < 2 || argc > 3)
		return conf_fail(p, "usage: pool NAME [select=round-robin|weighted]");
	if (!conf_pool_name_valid(argv[1]))
		return conf_fail(p, "pool: '%s' is not a valid name (letters, digits, '-', '_', '.')", argv[1]);
	if (conf_pool_find(c, argv[1]) != NULL)
		return conf_fail(p, "pool %s is defined twice", argv[1]);
	c->pools = xrealloc(c->pools, (c->npools + 1) * sizeof(*c->pools));
	pool = &c->pools[c->npools];
	memset(pool, 0, sizeof(*pool));
	pool->name = xstrdup(argv[1]);
	c->npools++;
	if (argc == 3) {
		if (strcmp(argv[2], "select=round-robin") == 0)
			pool->select = CONF_POOL_ROUND_ROBIN;
		else if (strcmp(argv[2], "select=weighted") == 0)
			pool->select = CONF_POOL_WEIGHTED;
		else
			return conf_fail(p, "pool %s: unknown option '%s' (select=round-robin or"
			    " select=weighted)", argv[1], argv[2]);
	}
	return 0;
}

static int
conf_count_parse(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
conf_warmup_parse(struct conf_parse *p, struct conf_pool_addr *a, const char *s)
{
	char buf[4096], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		long long v;
		if (a->nwarmup >= CONF_WARMUP_MAX)
			return conf_fail(p, "warmup: more than %d days", CONF_WARMUP_MAX);
		if (conf_count_parse(tok, 1, 100000000, &v) != 0)
			return conf_fail(p, "warmup: '%s' is not a daily cap (1..100000000)", tok);
		a->warmup = xrealloc(a->warmup, (a->nwarmup + 1) * sizeof(*a->warmup));
		a->warmup[a->nwarmup++] = v;
	}
	if (a->nwarmup == 0)
		return conf_fail(p, "warmup: give daily caps, e.g. warmup=50,100,500,1000");
	return 0;
}

static int
conf_day_parse(const char *s, long long *day)
{
	struct tm tm;
	char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	*day = (long long)(timegm(&tm) / 86400);
	return 0;
}

static int
conf_pool_addr_option(struct conf_parse *p, struct conf_pool_addr *a, const char *o)
{
	if (strncmp(o, "ehlo=", 5) == 0) {
		if (o[5] == '\0' || strlen(o + 5) > 255 || strpbrk(o + 5, " \t\r\n") != NULL)
			return conf_fail(p, "ehlo: '%s' is not a host name", o + 5);
		free(a->ehlo);
		a->ehlo = xstrdup(o + 5);
		return 0;
	}
	if (strncmp(o, "weight=", 7) == 0) {
		if (conf_count_parse(o + 7, 1, 1000000, &a->weight) != 0)
			return conf_fail(p, "weight: '%s' is not 1..1000000", o + 7);
		return 0;
	}
	if (strncmp(o, "warmup=", 7) == 0)
		return conf_warmup_parse(p, a, o + 7);
	if (strncmp(o, "warmup_start=", 13) == 0) {
		if (conf_day_parse(o + 13, &a->warmup_start) != 0)
			return conf_fail(p, "warmup_start: '%s' is not a date (YYYY-MM-DD)", o + 13);
		return 0;
	}
	return conf_fail(p, "pool_address: unknown option '%s'", o);
}

int
conf_pool_address_add(struct conf_parse *p, char **argv, int argc)
{
	struct conf_pool *pool;
	struct conf_pool_addr *a;

	if (argc < 3)
		return conf_fail(p, "usage: pool_address POOL IP [ehlo=HOST] [weight=N]"
		    " [warmup=N,N,...] [warmup_start=YYYY-MM-DD]");
	pool = (struct conf_pool *)conf_pool_find(p->c, argv[1]);
	if (pool == NULL)
		return conf_fail(p, "pool_address: no pool %s (define it with a pool line first)", argv[1]);
	if (!netaddr_ip_parse(argv[2], NULL, NULL))
		return conf_fail(p, "pool_address: '%s' is not an IPv4 or IPv6 address", argv[2]);
	for (size_t i = 0; i < pool->naddrs; i++)
		if (strcmp(pool->addrs[i].addr, argv[2]) == 0)
			return conf_fail(p, "pool_address: %s is in pool %s twice", argv[2], argv[1]);
	if (conf_keys_unique(p, argv, argc, 3) < 0)
		return -1;
	pool->addrs = xrealloc(pool->addrs, (pool->naddrs + 1) * sizeof(*pool->addrs));
	a = &pool->addrs[pool->naddrs++];
	memset(a, 0, sizeof(*a));
	a->addr = xstrdup(argv[2]);
	a->weight = 1;
	a->warmup_start = -1;
	for (int i = 3; i < argc; i++)
		if (conf_pool_addr_option(p, a, argv[i]) != 0)
			return -1;
	return 0;
}

static bool
conf_pattern_valid(const char *s)
{
	if (strncmp(s, "*.", 2) == 0)
		s += 2;
	if (*s == '\0' || strlen(s) > 253)
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '.')
			return false;
	return true;
}

int
conf_provider_add(struct conf_parse *p, char **argv, int argc)
{
	struct conf *c = p->c;
	struct conf_provider *pr;
	char buf[4096], *tok, *save = NULL;

	if (argc < 3)
		return conf_fail(p, "usage: provider NAME PATTERN[,PATTERN...] [connections=N] [rate=N]");
	if (!conf_pool_name_valid(argv[1]))
		return conf_fail(p, "provider: '%s' is not a valid name", argv[1]);
	if (conf_keys_unique(p, argv, argc, 3) < 0)
		return -1;
	for (size_t i = 0; i < c->nproviders; i++)
		if (strcmp(c->providers[i].name, argv[1]) == 0)
			return conf_fail(p, "provider %s is defined twice", argv[1]);
	c->providers = xrealloc(c->providers, (c->nproviders + 1) * sizeof(*c->providers));
	pr = &c->providers[c->nproviders++];
	memset(pr, 0, sizeof(*pr));
	pr->name = xstrdup(argv[1]);
	snprintf(buf, sizeof(buf), "%s", argv[2]);
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		for (char *q = tok; *q; q++)
			*q = (char)tolower((unsigned char)*q);
		if (!conf_pattern_valid(tok))
			return conf_fail(p, "provider %s: '%s' is not a host name or *.domain pattern",
			    argv[1], tok);
		pr->patterns = xrealloc(pr->patterns, (pr->npatterns + 1) * sizeof(char *));
		pr->patterns[pr->npatterns++] = xstrdup(tok);
	}
	for (int i = 3; i < argc; i++) {
		if (strncmp(argv[i], "connections=", 12) == 0) {
			if (conf_count_parse(argv[i] + 12, 1, 10000, &pr->connections) != 0)
				return conf_fail(p, "connections: '%s' is not 1..10000", argv[i] + 12);
		} else if (strncmp(argv[i], "rate=", 5) == 0) {
			if (conf_count_parse(argv[i] + 5, 0, 10000000, &pr->rate) != 0)
				return conf_fail(p, "rate: '%s' is not 0..10000000 (messages a minute)",
				    argv[i] + 5);
		} else
			return conf_fail(p, "provider %s: unknown option '%s'", argv[1], argv[i]);
	}
	return 0;
}

/* "*.google.com" matches any name ending in ".google.com" (not
 * "google.com" itself, as in TLS certificate names); others are exact. */
static bool
conf_pattern_match(const char *pat, const char *host)
{
	size_t hl = strlen(host), pl;

	if (strncmp(pat, "*.", 2) != 0)
		return strcasecmp(pat, host) == 0;
	pl = strlen(pat + 1);
	return hl > pl && strcasecmp(host + hl - pl, pat + 1) == 0;
}

const struct conf_provider *
conf_provider_match(const struct conf *c, const char *host)
{
	char h[256];
	size_t n;

	snprintf(h, sizeof(h), "%s", host);
	n = strlen(h);
	if (n > 0 && h[n - 1] == '.')
		h[n - 1] = '\0';
	for (size_t i = 0; i < c->nproviders; i++)
		for (size_t j = 0; j < c->providers[i].npatterns; j++)
			if (conf_pattern_match(c->providers[i].patterns[j], h))
				return &c->providers[i];
	return NULL;
}

void
conf_pools_free(struct conf *c)
{
	for (size_t i = 0; i < c->npools; i++) {
		for (size_t j = 0; j < c->pools[i].naddrs; j++) {
			free(c->pools[i].addrs[j].addr);
			free(c->pools[i].addrs[j].ehlo);
			free(c->pools[i].addrs[j].warmup);
		}
		free(c->pools[i].addrs);
		free(c->pools[i].name);
	}
	free(c->pools);
	for (size_t i = 0; i < c->nproviders; i++) {
		for (size_t j = 0; j < c->providers[i].npatterns; j++)
			free(c->providers[i].patterns[j]);
		free(c->providers[i].patterns);
		free(c->providers[i].name);
	}
	free(c->providers);
}
