/*
 * conf_check.c - what a single line cannot decide: a mailbox or alias whose
 * domain is declared further down, tls_cert without tls_key. Checked once
 * the whole file is read, and reported at the line concerned; then, for
 * ferryd, conf_check: whether the configuration is fit to run at all.
 * SECURITY: an open relay is refused where relay_networks is read
 * (conf_addr.c), so that every reader of ferry.conf refuses it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf_internal.h"

/* The first entry (by line) outside the hosted domains, if any. */
struct conf_unhosted {
	const char *what, *addr;
	int         line;
};

static void
conf_unhosted_note(struct conf_parse *p, struct conf_unhosted *u, const char *what,
    const char *addr, int line)
{
	const char *at = strrchr(addr, '@');

	if (conf_domain_hosted(p->c, at + 1) || (u->line != 0 && u->line <= line))
		return;
	u->what = what;
	u->addr = addr;
	u->line = line;
}

/* One of a pair set without the other, at the line of the one set. */
static int
conf_pair_check(struct conf_parse *p, const char *a, const char *b)
{
	int la = conf_option_line(p->c, a), lb = conf_option_line(p->c, b);

	if (la != 0 && lb == 0)
		return conf_fail_at(p, la, "%s is set but %s is not", a, b);
	if (lb != 0 && la == 0)
		return conf_fail_at(p, lb, "%s is set but %s is not", b, a);
	return 0;
}

int
conf_lines_check(struct conf_parse *p)
{
	struct conf *c = p->c;
	struct conf_unhosted u = { NULL, NULL, 0 };

	if (c->ndomains > 0)
		qsort(c->domains, c->ndomains, sizeof(char *), conf_strcmp);
	for (size_t i = 0; i < c->nmailboxes; i++)
		conf_unhosted_note(p, &u, "mailbox", c->mailboxes[i], p->mailbox_lines[i]);
	for (size_t i = 0; i < c->naliases; i++)
		conf_unhosted_note(p, &u, "alias", c->aliases[i].from, p->alias_lines[i]);
	if (u.line != 0)
		return conf_fail_at(p, u.line, "%s %s is not in a hosted domain (add a 'domain' line)",
		    u.what, u.addr);
	if (conf_milters_check(p) < 0)
		return -1;
	return conf_pair_check(p, "tls_cert", "tls_key");
}

/* The file as a whole: without a listener ferryd would accept nothing. */
int
conf_check(const struct conf *c, char *err, size_t errlen)
{
	const char *file = c->path ? c->path : "(embedded)";

	if (c->nlisteners == 0 || (c->nlisteners == 1 && c->listeners[0].role == CONF_ROLE_LOCAL)) {
		snprintf(err, errlen, "%s: no listen lines: ferryd would accept nothing", file);
		return -1;
	}
	return 0;
}
