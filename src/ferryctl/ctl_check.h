/*
 * ctl_check.h - what the files of `ferryctl domain check` share: the
 * findings printer, the check's context, SPF evaluation (ctl_spf.c) and
 * the DKIM and DMARC record checks (ctl_check_dkim.c).
 */
#ifndef FERRY_CTL_CHECK_H
#define FERRY_CTL_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf.h"
#include "dns/dns.h"
#include "ferryctl/ctl_state.h"
#include "state/state.h"

enum check_status { CHECK_OK, CHECK_MISSING, CHECK_WRONG };

struct check {
	const struct conf   *conf;
	struct state        *st;
	struct dns_resolver *r;
	const char          *domain;          /* lowercase, no trailing dot */
	struct state_tenant  tenant;
	struct ctl_sources   src;             /* the relay's source addresses */
	size_t               signing;         /* signing DKIM keys in the state */
	size_t               bad;             /* findings missing or wrong */
	struct dns_rrset    *set;             /* scratch for lookups */
};

/* Print one finding: "ok|missing|wrong  WHAT: MESSAGE"; counts the bad ones. */
void check_say(struct check *k, enum check_status s, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "k=v; k=v" tag lists (RFC 6376 3.2, RFC 7489 6.3): the value of tag in
 * rec (whitespace around it removed) into val; false when absent. */
bool check_tag_get(const char *rec, const char *tag, char *val, size_t size);

/* ctl_spf.c: SPF result of domain for mail from ip (libspf2 over our DNS). */
enum check_spf { CHECK_SPF_PASS, CHECK_SPF_NONE, CHECK_SPF_OTHER, CHECK_SPF_SKIPPED };
enum check_spf check_spf_eval(struct dns_resolver *r, const char *helo, const char *domain,
    const char *ip, char *result, size_t rlen, char *why, size_t wlen);

/* ctl_check_dkim.c */
int check_dkim(struct check *k, char *err, size_t errlen);
void check_dmarc(struct check *k);

#endif
