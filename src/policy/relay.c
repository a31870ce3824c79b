/*
 * relay.c - the RCPT TO decision. See relay.h for the rules; the point of
 * this file is that there is exactly one place that can say "relay".
 */
#include "policy/relay.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* Lowercase copy of the address for table lookups (tables are lowercase). */
static void
relay_key(const struct smtp_path *p, char *out, size_t outsz)
{
	size_t n = p->len < outsz - 1 ? p->len : outsz - 1;

	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)p->addr[i]);
	out[n] = '\0';
}

static bool
relay_is_postmaster(const struct smtp_path *p)
{
	return p->at == 10 && strncasecmp(p->addr, "postmaster", 10) == 0;
}

enum relay_verdict
relay_rcpt_check(const struct conf *c, const struct smtp_path *rcpt, bool may_relay)
{
	char key[SMTP_PATH_MAX + 1];
	const char *domain;

	/* "<Postmaster>" without a domain is ours by definition. */
	if (rcpt->at >= rcpt->len)
		return RELAY_OK_LOCAL;
	domain = rcpt->addr + rcpt->at + 1;
	if (rcpt->literal || !conf_domain_hosted(c, domain))
		return may_relay ? RELAY_OK_RELAY : RELAY_DENIED;
	if (relay_is_postmaster(rcpt))
		return RELAY_OK_LOCAL;
	relay_key(rcpt, key, sizeof(key));
	if (conf_mailbox_exists(c, key) || conf_alias_lookup(c, key) != NULL)
		return RELAY_OK_LOCAL;
	return RELAY_UNKNOWN_USER;
}
