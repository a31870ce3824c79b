/*
 * conf_milter.c - content filters: "milter NAME inet:HOST:PORT|unix:PATH
 * [connect_timeout=DURATION] [timeout=DURATION] [default_action=tempfail|accept]
 * [spam=yes|no]",
 * "tenant_milters NAME[,NAME]", and a listener's milters=NAME[,NAME] (read
 * by conf_listen_add). Names are resolved once the whole file is read, so
 * a milter line may come after the lines that use it.
 * SECURITY: HOST must be an IP address: the filter is reached from the
 * event loop, where a name lookup would block.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "conf/conf_internal.h"
#include "util/netaddr.h"
#include "util/xmalloc.h"

#define CONF_MILTERS_MAX 8   /* filters on one message */

static bool
conf_milter_name_ok(const char *s)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
			return false;
	return n > 0 && n < 64;
}

/* "5s", "30", "2m": seconds, 1 to 3600. */
static int
conf_milter_duration(const char *s, long long *out)
{
	char *end;
	long long v = strtoll(s, &end, 10), mul = 1;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	if (strcmp(end, "m") == 0) mul = 60;
	else if (*end != '\0' && strcmp(end, "s") != 0) return -1;
	v *= mul;
	if (v < 1 || v > 3600)
		return -1;
	*out = v;
	return 0;
}

static int
conf_milter_target(struct conf_parse *p, struct conf_milter *m, const char *t)
{
	if (strncmp(t, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&m->ss;
		if (t[5] != '/' || strlen(t + 5) >= sizeof(sun->sun_path))
			return conf_fail(p, "milter: '%s': unix:PATH wants an absolute path shorter than %zu",
			    t, sizeof(sun->sun_path));
		sun->sun_family = AF_UNIX;
		snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", t + 5);
		m->sslen = sizeof(*sun);
		return 0;
	}
	if (strncmp(t, "inet:", 5) != 0 || netaddr_listen_parse(t + 5, &m->ss, &m->sslen) < 0 ||
	    strchr(t + 5, '*') != NULL)
		return conf_fail(p, "milter: '%s' is not inet:IP:PORT, inet:[IPv6]:PORT or unix:PATH", t);
	return 0;
}

static int
conf_milter_option(struct conf_parse *p, struct conf_milter *m, const char *o)
{
	if (strncmp(o, "connect_timeout=", 16) == 0) {
		if (conf_milter_duration(o + 16, &m->connect_timeout) < 0)
			return conf_fail(p, "milter: '%s': a duration from 1s to 1h (30, 30s, 2m)", o);
	} else if (strncmp(o, "timeout=", 8) == 0) {
		if (conf_milter_duration(o + 8, &m->timeout) < 0)
			return conf_fail(p, "milter: '%s': a duration from 1s to 1h (30, 30s, 2m)", o);
	} else if (strcmp(o, "default_action=tempfail") == 0)
		m->default_accept = false;
	else if (strcmp(o, "default_action=accept") == 0)
		m->default_accept = true;
	else if (strcmp(o, "spam=yes") == 0)
		m->spam = true;
	else if (strcmp(o, "spam=no") == 0)
		m->spam = false;
	else
		return conf_fail(p, "milter: unknown option '%s' (connect_timeout=, timeout=, "
		    "default_action=tempfail|accept, spam=yes|no)", o);
	return 0;
}

int
conf_milter_add(struct conf_parse *p, char **argv, int argc)
{
	struct conf *c = p->c;
	struct conf_milter m = { .connect_timeout = 5, .timeout = 30 };

	if (argc < 3 || argc > 7)
		return conf_fail(p, "usage: milter NAME inet:HOST:PORT|unix:PATH [connect_timeout=DURATION] "
		    "[timeout=DURATION] [default_action=tempfail|accept] [spam=yes|no]");
	if (!conf_milter_name_ok(argv[1]))
		return conf_fail(p, "milter: '%s' is not a name (letters, digits, '-', '_', '.')", argv[1]);
	if (conf_milter_find(c, argv[1]) != NULL)
		return conf_fail(p, "milter: %s is defined twice", argv[1]);
	if (conf_keys_unique(p, argv, argc, 3) < 0 || conf_milter_target(p, &m, argv[2]) < 0)
		return -1;
	for (int i = 3; i < argc; i++)
		if (conf_milter_option(p, &m, argv[i]) < 0)
			return -1;
	m.name = xstrdup(argv[1]);
	m.target = xstrdup(argv[2]);
	c->milters = xrealloc(c->milters, (c->nmilters + 1) * sizeof(*c->milters));
	c->milters[c->nmilters++] = m;
	return 0;
}

int
conf_milter_names_parse(struct conf_parse *p, const char *what, const char *list, char ***names,
    size_t *n)
{
	char *dup = xstrdup(list), *save = NULL;

	for (char *t = strtok_r(dup, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		if (!conf_milter_name_ok(t) || *n >= CONF_MILTERS_MAX) {
			free(dup);
			return conf_fail(p, "%s: '%s' is not a list of up to %d milter names", what, list,
			    CONF_MILTERS_MAX);
		}
		*names = xrealloc(*names, (*n + 1) * sizeof(char *));
		(*names)[(*n)++] = xstrdup(t);
	}
	free(dup);
	if (*n == 0)
		return conf_fail(p, "%s: no milter name", what);
	return 0;
}

int
conf_tenant_milters_add(struct conf_parse *p, char **argv, int argc)
{
	struct conf *c = p->c;

	if (argc != 2)
		return conf_fail(p, "usage: tenant_milters NAME[,NAME]");
	if (c->tenant_milters_line != 0)
		return conf_fail(p, "tenant_milters is set twice (first on line %d)", c->tenant_milters_line);
	c->tenant_milters_line = p->line;
	return conf_milter_names_parse(p, "tenant_milters", argv[1], &c->tenant_milter_names,
	    &c->ntenant_milters);
}

static int
conf_milters_resolve(struct conf_parse *p, char **names, size_t n, const struct conf_milter ***out,
    int line)
{
	*out = xcalloc(n ? n : 1, sizeof(**out));
	for (size_t i = 0; i < n; i++)
		if (((*out)[i] = conf_milter_find(p->c, names[i])) == NULL)
			return conf_fail_at(p, line, "milter %s is not defined (add a 'milter %s ...' line)",
			    names[i], names[i]);
	return 0;
}

int
conf_milters_check(struct conf_parse *p)
{
	struct conf *c = p->c;

	for (size_t i = 0; i < c->nlisteners; i++) {
		struct conf_listener *l = &c->listeners[i];
		if (l->nmilters > 0 &&
		    conf_milters_resolve(p, l->milter_names, l->nmilters, &l->milters, l->line) < 0)
			return -1;
	}
	if (c->ntenant_milters > 0)
		return conf_milters_resolve(p, c->tenant_milter_names, c->ntenant_milters, &c->tenant_milters,
		    c->tenant_milters_line);
	return 0;
}

const struct conf_milter *
conf_milter_find(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->nmilters; i++)
		if (strcmp(c->milters[i].name, name) == 0)
			return &c->milters[i];
	return NULL;
}

static void
conf_names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
conf_milters_free(struct conf *c)
{
	for (size_t i = 0; i < c->nlisteners; i++) {
		conf_names_free(c->listeners[i].milter_names, c->listeners[i].nmilters);
		free(c->listeners[i].milters);
	}
	for (size_t i = 0; i < c->nmilters; i++) {
		free(c->milters[i].name);
		free(c->milters[i].target);
	}
	free(c->milters);
	conf_names_free(c->tenant_milter_names, c->ntenant_milters);
	free(c->tenant_milters);
}
