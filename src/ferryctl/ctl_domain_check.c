/*
 * ctl_domain_check.c - `ferryctl domain check DOMAIN`: query DNS and say
 * what is right, missing or wrong for a sender domain (placeholder until
 * the check lands).
 */
#include "ferryctl/ctl.h"

int
ctl_domain_check(struct ctl *c, const char *domain)
{
	(void)c;
	ctl_warn("domain check %s: not implemented yet", domain);
	return CTL_EXIT_ERR;
}
