/*
 * ctl_domain_dns.c - `ferryctl domain dns DOMAIN`: the records a tenant
 * publishes for a sender domain (src/dnscheck/dnscheck_records.c) as zone
 * file lines (one record a line, comments start with ';', so scripts can
 * load them).
 * SECURITY: prints only public data (the public halves of the DKIM keys).
 */
#include <stdio.h>
#include <string.h>

#include "conf/conf.h"
#include "dnscheck/dnscheck.h"
#include "ferryctl/ctl_state.h"
#include "state/state_admin.h"

#define CTL_TXT_CHUNK     255     /* octets in one character-string (RFC 1035 3.3) */

/* name IN TXT "..." "..." with text cut into 255-octet strings. */
static void
ctl_dns_txt(const char *name, const char *text)
{
	size_t len = strlen(text);

	printf("%s. IN TXT", name);
	for (size_t off = 0; off < len || off == 0; off += CTL_TXT_CHUNK) {
		size_t n = len - off < CTL_TXT_CHUNK ? len - off : CTL_TXT_CHUNK;
		printf(" \"%.*s\"", (int)n, text + off);
		if (len == 0)
			break;
	}
	printf("\n");
}

/* A dnscheck_record_fn: its note as a comment, then the zone line. */
static void
ctl_dns_record(void *arg, const struct dnscheck_record *rec)
{
	(void)arg;
	if (rec->note[0] != '\0')
		printf("; %s\n", rec->note);
	if (rec->value == NULL)
		return;
	if (strcmp(rec->type, "TXT") == 0)
		ctl_dns_txt(rec->name, rec->value);
	else
		printf("%s. IN %s %s\n", rec->name, rec->type, rec->value);
}

static void
ctl_dns_warn(void *arg, const char *msg)
{
	(void)arg;
	ctl_warn("%s", msg);
}

int
ctl_domain_dns(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	struct state_domain_info dom;
	char err[1024];
	const struct conf *k;
	int problems;

	if (state_domain_get(st, a->arg[0], &dom, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	if ((k = ctl_conf_get(c)) == NULL)
		return CTL_EXIT_ERR;
	printf("; DNS records for %s (tenant %s), by ferryctl domain dns\n", dom.name, dom.tenant);
	printf("; DKIM (RFC 6376; Ed25519: RFC 8463)\n");
	problems = dnscheck_records(st, k, dom.name, ctl_dns_record, ctl_dns_warn, NULL, err, sizeof(err));
	if (problems < 0) {
		ctl_warn("%s", err);
		return CTL_EXIT_ERR;
	}
	return problems > 0 ? CTL_EXIT_ERR : CTL_EXIT_OK;
}
