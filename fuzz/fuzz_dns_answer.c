/*
 * fuzz_dns_answer.c - libFuzzer target for dns_answer_parse (src/dns/
 * dns_rr.c): the input is a DNS response from a hostile server, parsed for
 * each record type. Invariants: never reads past size, keeps at most
 * DNS_RR_MAX records, each within its type's length limits and
 * NUL-terminated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int types[] = { DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_PTR, DNS_T_TXT };
	static struct dns_rrset set;
	/* a copy of exactly size octets, so ASan sees any overread */
	unsigned char *buf = malloc(size ? size : 1);

	memcpy(buf, data, size);
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		if (dns_answer_parse(buf, size, types[t], &set) != 0)
			continue;
		CHECK(set.n <= DNS_RR_MAX);
		for (size_t i = 0; i < set.n; i++) {
			const struct dns_rr *rr = &set.rr[i];
			CHECK(rr->len <= DNS_TXT_MAX && rr->data[rr->len] == '\0');
			if (types[t] == DNS_T_A || types[t] == DNS_T_AAAA)
				CHECK(rr->len == (types[t] == DNS_T_A ? 4u : 16u));
			if (types[t] == DNS_T_MX || types[t] == DNS_T_PTR)
				CHECK(rr->len <= DNS_NAME_MAX && strlen((const char *)rr->data) == rr->len);
		}
	}
	free(buf);
	return 0;
}
