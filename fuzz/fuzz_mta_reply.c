/*
 * fuzz_mta_reply.c - libFuzzer target for the reply parser of the outbound
 * client and ferry-sendmail (src/util/mta_reply.c): the input is what a
 * hostile peer sends. Invariants: the parser never reads past len, never
 * claims more octets than it was given, only accepts codes 200-599, and
 * keeps only printable ASCII text; what the strict mode accepts the
 * tolerant one reads the same; EHLO keyword parsing never fails on what
 * it accepts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/mta_reply.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mta_reply r, strict;
	struct mta_caps caps;
	size_t off = 0;

	/* a copy of exactly size octets, so ASan sees any overread */
	char *buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	while (off < size) {
		long n = mta_reply_parse(buf + off, size - off, MTA_REPLY_TOLERANT, &r);
		long ns = mta_reply_parse(buf + off, size - off, MTA_REPLY_STRICT, &strict);
		CHECK(ns <= 0 || (ns == n && strict.code == r.code && strcmp(strict.text, r.text) == 0));
		if (n <= 0)
			break;
		CHECK((size_t)n <= size - off);
		CHECK(r.code >= 200 && r.code <= 599);
		for (const char *p = r.text; *p; p++)
			CHECK(*p >= 0x20 && *p < 0x7f);
		mta_caps_parse(buf + off, (size_t)n, &caps);
		off += (size_t)n;
	}
	free(buf);
	return 0;
}
