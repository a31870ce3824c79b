/*
 * ctl_check.h - ferryctl's SPF evaluation (ctl_spf.c, libspf2 over ferry's
 * resolver) for `domain check`; the check itself is src/dnscheck/.
 */
#ifndef FERRY_CTL_CHECK_H
#define FERRY_CTL_CHECK_H

#include <stddef.h>

#include "dnscheck/dnscheck.h"

/* A dnscheck_spf_fn: SPF result of domain for mail from ip. */
enum dnscheck_spf ctl_spf_eval(struct dns_resolver *r, const char *helo, const char *domain,
    const char *ip, char *result, size_t rlen, char *why, size_t wlen);

#endif
