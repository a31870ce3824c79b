/*
 * fuzz_sender_from.c - libFuzzer target for the From: lockdown
 * (src/policy/sender.c): the input is a hostile header section. Invariants:
 * field spans lie inside the input and start after a colon; an unfolded
 * value holds no CR, LF or NUL; the whole check never crashes, and a
 * message it accepts has exactly one From: field.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/sender.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)
#define SPANS 8

/* Only example.test and its subdomains are "ours". */
static int
fuzz_domain_ok(void *arg, const char *domain)
{
	size_t n = strlen(domain);

	(void)arg;
	return strcmp(domain, "example.test") == 0 ||
	    (n > 13 && strcmp(domain + n - 13, ".example.test") == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *hdr = (const char *)data;
	struct sender_span sp[SPANS];
	struct sender_result r;
	size_t n;

	if (size > SENDER_HEADER_MAX)
		return 0;
	sender_init();
	n = sender_from_fields(hdr, size, sp, SPANS);
	for (size_t i = 0; i < n && i < SPANS; i++) {
		char *v;
		CHECK(sp[i].p > hdr && sp[i].p <= hdr + size && sp[i].len <= (size_t)(hdr + size - sp[i].p));
		CHECK(sp[i].p[-1] == ':');
		v = sender_field_unfold(sp[i].p, sp[i].len);
		if (v != NULL) {
			CHECK(strpbrk(v, "\r\n") == NULL);
			CHECK(strlen(v) <= sp[i].len);
			free(v);
		}
	}
	if (sender_from_check(hdr, size, fuzz_domain_ok, NULL, &r) == SENDER_OK)
		CHECK(r.nfrom == 1 && n == 1);
	return 0;
}
