/* STUB: placeholder so the tree links until the real module lands; a
 * colleague owns this file and will overwrite it. Every lookup fails
 * temporarily. */
#include "dns/dns.h"
#include <stdio.h>
#include <stdlib.h>
struct dns_resolver { int unused; };
struct dns_resolver *dns_resolver_new(const char *s, int t, char *e, size_t l) { (void)s; (void)t; (void)e; (void)l; return calloc(1, sizeof(struct dns_resolver)); }
void dns_resolver_free(struct dns_resolver *r) { free(r); }
enum dns_status dns_mx_lookup(struct dns_resolver *r, const char *d, bool v6, struct dns_host *o, size_t m, size_t *n, char *e, size_t l) { (void)r; (void)d; (void)v6; (void)o; (void)m; *n = 0; snprintf(e, l, "resolver not built"); return DNS_TEMPFAIL; }
enum dns_status dns_host_lookup(struct dns_resolver *r, const char *h, bool v6, struct dns_host *o, char *e, size_t l) { (void)r; (void)h; (void)v6; (void)o; snprintf(e, l, "resolver not built"); return DNS_TEMPFAIL; }
const char *dns_status_name(enum dns_status s) { (void)s; return "tempfail"; }
