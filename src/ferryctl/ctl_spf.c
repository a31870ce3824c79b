/*
 * ctl_spf.c - SPF evaluation for `ferryctl domain check` with libspf2, whose
 * DNS layer is ours: every query libspf2 makes (the record, include:,
 * redirect=, a, mx, ptr, exists, exp=) goes to the configured dns_servers
 * through c-ares (dns_rr_lookup), not to /etc/resolv.conf.
 * STANDARDS: RFC 7208 (SPF), including its DNS lookup limits (libspf2's).
 * SECURITY: answers are untrusted; dns_rr_lookup bounds them and libspf2
 * parses the records. Nothing here is used to accept or refuse mail.
 */
#include "ferryctl/ctl_check.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spf2/spf.h>
#include <spf2/spf_dns.h>


/* The h_errno libspf2 expects for our status. */
static int
ctl_spf_herrno(enum dns_status st)
{
	switch (st) {
	case DNS_OK:       return NETDB_SUCCESS;
	case DNS_NXDOMAIN: return HOST_NOT_FOUND;
	case DNS_NODATA:
	case DNS_NULLMX:   return NO_DATA;
	default:           return TRY_AGAIN;
	}
}

/* Copy our records into libspf2's (A/AAAA as addresses, names and TXT as
 * NUL-terminated strings); false when out of memory. */
static bool
ctl_spf_rr_fill(SPF_dns_rr_t *spfrr, const struct dns_rrset *set)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct dns_rr *rr = &set->rr[i];
		if (SPF_dns_rr_buf_realloc(spfrr, (int)i, rr->len + 1) != SPF_E_SUCCESS)
			return false;
		memcpy(spfrr->rr[i], rr->data, rr->len + 1);
		spfrr->num_rr = (int)i + 1;
	}
	return true;
}

/* libspf2's lookup hook: one query on our resolver (hook). */
static SPF_dns_rr_t *
ctl_spf_dns_lookup(SPF_dns_server_t *server, const char *domain, ns_type type, int should_cache)
{
	struct dns_rrset *set = calloc(1, sizeof(*set));
	enum dns_status st = DNS_TEMPFAIL;
	SPF_dns_rr_t *spfrr;
	char err[512];

	(void)should_cache;
	/* type 99 (SPF RR) is obsolete (RFC 7208 3.1) and A/AAAA/MX/PTR/TXT are all SPF asks for */
	if (type != ns_t_a && type != ns_t_aaaa && type != ns_t_mx && type != ns_t_ptr &&
	    type != ns_t_txt)
		st = DNS_NODATA;
	else if (set != NULL)
		st = dns_rr_lookup(server->hook, domain, (int)type, set, err, sizeof(err));
	spfrr = SPF_dns_rr_new_init(server, domain, type, 0, ctl_spf_herrno(st));
	if (spfrr != NULL && st == DNS_OK && !ctl_spf_rr_fill(spfrr, set)) {
		spfrr->num_rr = 0;
		spfrr->herrno = TRY_AGAIN;
	}
	free(set);
	return spfrr;
}

/* Our summary of libspf2's result. */
static enum dnscheck_spf
ctl_spf_kind(SPF_result_t res)
{
	return res == SPF_RESULT_PASS ? DNSCHECK_SPF_PASS :
	    res == SPF_RESULT_NONE ? DNSCHECK_SPF_NONE : DNSCHECK_SPF_OTHER;
}

/* SPF result of domain for a message from ip (MAIL FROM postmaster@domain,
 * EHLO helo). Fills result ("pass", "fail", ...) and a comment. Loopback
 * addresses are not evaluated (libspf2 passes them unconditionally). */
enum dnscheck_spf
ctl_spf_eval(struct dns_resolver *r, const char *helo, const char *domain, const char *ip,
    char *result, size_t rlen, char *why, size_t wlen)
{
	SPF_dns_server_t layer = {
		.lookup = ctl_spf_dns_lookup, .name = "ferry", .hook = r,
	};
	SPF_server_t *server = NULL;
	SPF_request_t *req = NULL;
	SPF_response_t *resp = NULL;
	enum dnscheck_spf out = DNSCHECK_SPF_OTHER;
	char from[STATE_DOMAIN_MAX + 16];
	const char *comment;
	struct in6_addr a6;
	struct in_addr a4;
	bool v4 = inet_pton(AF_INET, ip, &a4) == 1;

	snprintf(result, rlen, "error");
	snprintf(why, wlen, "%s", "");
	if (!v4 && inet_pton(AF_INET6, ip, &a6) != 1) {
		snprintf(why, wlen, "not an IP address");
		return DNSCHECK_SPF_OTHER;
	}
	if ((v4 && (ntohl(a4.s_addr) >> 24) == 127) || (!v4 && IN6_IS_ADDR_LOOPBACK(&a6))) {
		snprintf(result, rlen, "skipped");
		snprintf(why, wlen, "loopback address, not evaluated");
		return DNSCHECK_SPF_SKIPPED;
	}
	snprintf(from, sizeof(from), "postmaster@%s", domain);
	/* destroy NULL: the layer lives on this stack frame, not libspf2's heap */
	if ((server = SPF_server_new_dns(&layer, 0)) == NULL || (req = SPF_request_new(server)) == NULL)
		goto done;
	if ((v4 ? SPF_request_set_ipv4(req, a4) : SPF_request_set_ipv6(req, a6)) != SPF_E_SUCCESS ||
	    SPF_request_set_helo_dom(req, helo) != SPF_E_SUCCESS ||
	    SPF_request_set_env_from(req, from) != 0)
		goto done;
	SPF_request_query_mailfrom(req, &resp);
	if (resp == NULL)
		goto done;
	out = ctl_spf_kind(SPF_response_result(resp));
	snprintf(result, rlen, "%s", SPF_strresult(SPF_response_result(resp)));
	if (SPF_response_errcode(resp) != SPF_E_SUCCESS)
		snprintf(why, wlen, "%s", SPF_strerror(SPF_response_errcode(resp)));
	else if ((comment = SPF_response_get_header_comment(resp)) != NULL) {
		/* "RECEIVER: domain of ..." : the receiver is us, drop it */
		const char *colon = strstr(comment, ": ");
		snprintf(why, wlen, "%s", colon != NULL ? colon + 2 : comment);
	}
done:
	if (resp != NULL)
		SPF_response_free(resp);
	if (req != NULL)
		SPF_request_free(req);
	if (server != NULL)
		SPF_server_free(server);
	return out;
}
