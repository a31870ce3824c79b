/*
 * conf_addr.c - the repeatable lines that say who ferryd listens for and
 * who it accepts mail for: listen, domain, mailbox, alias, relay_networks;
 * and the name and address validators the other lines share.
 * Domains: RFC 1035 2.3.1 labels (U-labels allowed as raw UTF-8);
 * addresses: RFC 5321 4.5.3.1 lengths (64 local, 255 domain).
 * SECURITY: a relay network wider than /8 (IPv4) or /16 (IPv6) is refused
 * at its line: it would relay for everyone.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf_internal.h"
#include "util/netaddr.h"
#include "util/xmalloc.h"

void
conf_lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

bool
conf_ip_valid(const char *s)
{
	return netaddr_ip_parse(s, NULL, NULL);
}

bool
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

bool
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

/* Remember the line of entry n (file order) for conf_lines_check. */
static void
conf_line_keep(int **lines, size_t n, int line)
{
	*lines = xrealloc(*lines, (n + 1) * sizeof(int));
	(*lines)[n] = line;
}

/* A listen line's options: source=IP, milters=NAME[,NAME]. */
static int
conf_listen_option(struct conf_parse *p, struct conf_listener *l, const char *o)
{
	if (strncmp(o, "source=", 7) == 0) {
		if (!conf_ip_valid(o + 7))
			return conf_fail(p, "listen: '%s' is not source=IP (an IPv4 or IPv6 address)", o);
		l->source = xstrdup(o + 7);
		return 0;
	}
	if (strncmp(o, "milters=", 8) == 0)
		return conf_milter_names_parse(p, "listen", o + 8, &l->milter_names, &l->nmilters);
	return conf_fail(p, "listen: unknown option '%s' (source=IP, milters=NAME[,NAME])", o);
}

/* "listen http|https ADDRESS:PORT": the HTTP API's listeners, in their own
 * array so that the SMTP server never sees them. No options. */
static int
conf_listen_http_add(struct conf_parse *p, enum conf_role role, char **argv, int argc)
{
	struct conf *c = p->c;
	struct conf_listener *l;

	if (argc != 3)
		return conf_fail(p, "usage: listen %s ADDRESS:PORT (no options)", argv[1]);
	c->http_listeners = xrealloc(c->http_listeners, (c->nhttp_listeners + 1) * sizeof(*l));
	l = &c->http_listeners[c->nhttp_listeners++];
	memset(l, 0, sizeof(*l));
	l->role = role;
	l->line = p->line;
	l->text = xstrdup(argv[2]);
	if (netaddr_listen_parse(argv[2], &l->ss, &l->sslen) < 0)
		return conf_fail(p, "listen: bad address '%s' (want IP:PORT, [IPv6]:PORT or *:PORT)", argv[2]);
	return 0;
}

int
conf_listen_add(struct conf_parse *p, char **argv, int argc)
{
	struct conf *c = p->c;
	struct conf_listener *l;
	enum conf_role role;

	if (argc < 3 || argc > 5)
		return conf_fail(p, "usage: listen mx|submission|submissions|http|https ADDRESS:PORT "
		    "[source=IP] [milters=NAME[,NAME]]");
	if (strcmp(argv[1], "mx") == 0) role = CONF_ROLE_MX;
	else if (strcmp(argv[1], "submission") == 0) role = CONF_ROLE_SUBMISSION;
	else if (strcmp(argv[1], "submissions") == 0) role = CONF_ROLE_SUBMISSIONS;
	else if (strcmp(argv[1], "http") == 0) return conf_listen_http_add(p, CONF_ROLE_HTTP, argv, argc);
	else if (strcmp(argv[1], "https") == 0) return conf_listen_http_add(p, CONF_ROLE_HTTPS, argv, argc);
	else return conf_fail(p, "listen: unknown role '%s' (mx, submission, submissions, http or https)",
	    argv[1]);
	if (conf_keys_unique(p, argv, argc, 3) < 0)
		return -1;
	c->listeners = xrealloc(c->listeners, (c->nlisteners + 1) * sizeof(*l));
	l = &c->listeners[c->nlisteners];
	memset(l, 0, sizeof(*l));
	/* counted now, so conf_free frees what the options below took */
	c->nlisteners++;
	l->role = role;
	l->line = p->line;
	l->text = xstrdup(argv[2]);
	if (netaddr_listen_parse(argv[2], &l->ss, &l->sslen) < 0)
		return conf_fail(p, "listen: bad address '%s' (want IP:PORT, [IPv6]:PORT or *:PORT)", argv[2]);
	for (int i = 3; i < argc; i++)
		if (conf_listen_option(p, l, argv[i]) < 0)
			return -1;
	return 0;
}

int
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

int
conf_mailbox_add(struct conf_parse *p, char **argv, int argc)
{
	if (argc < 2)
		return conf_fail(p, "usage: mailbox ADDRESS...");
	for (int i = 1; i < argc; i++) {
		if (!conf_address_valid(argv[i]))
			return conf_fail(p, "mailbox: '%s' is not a valid address (local@domain)", argv[i]);
		conf_line_keep(&p->mailbox_lines, p->c->nmailboxes, p->line);
		conf_strv_push(&p->c->mailboxes, &p->c->nmailboxes, argv[i]);
	}
	return 0;
}

int
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
	conf_line_keep(&p->alias_lines, c->naliases, p->line);
	c->aliases = xrealloc(c->aliases, (c->naliases + 1) * sizeof(*a));
	a = &c->aliases[c->naliases++];
	memset(a, 0, sizeof(*a));
	a->from = xstrdup(argv[1]);
	conf_lower(a->from);
	for (int i = 2; i < argc; i++)
		conf_strv_push(&a->to, &a->nto, argv[i]);
	return 0;
}

/* A network this wide is "everyone": refuse it, whatever the intent. */
int
conf_relay_nets_add(struct conf_parse *p, char **argv, int argc)
{
	struct conf *c = p->c;
	struct netaddr_net n;

	for (int i = 1; i < argc; i++) {
		if (netaddr_net_parse(argv[i], &n) < 0)
			return conf_fail(p, "relay_networks: '%s' is not an address or CIDR network", argv[i]);
		if (netaddr_net_too_wide(&n))
			return conf_fail(p, "relay_networks: %s is wider than /8 (IPv4) or /16 (IPv6): "
			    "that would be an open relay", argv[i]);
		c->relay_nets = xrealloc(c->relay_nets, (c->nrelay_nets + 1) * sizeof(*c->relay_nets));
		c->relay_nets[c->nrelay_nets++] = n;
	}
	return 0;
}
