/*
 * fuzz_milter_reply.c - libFuzzer target for the milter reply decoder
 * (src/milter/milter_proto.c): the input is a stream of packets a hostile
 * filter sends (4-octet length, then the packet). Invariants: the decoder
 * never reads past the packet, a length over the cap is refused before
 * anything is read, and what it accepts is safe to use: reply texts are
 * printable ASCII with a 4xx/5xx code, header names have no colon or
 * space, a value's line breaks are folds, and every string ends inside
 * the packet.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "milter/milter_proto.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static void
check_value(const char *v)
{
	for (const char *p = v; *p; p++)
		if (*p == '\n')
			CHECK(p[1] == ' ' || p[1] == '\t');
		else if (*p == '\r')
			CHECK(p[1] == '\n');
}

static void
check_reply(const unsigned char *pkt, size_t len, const struct milter_reply *r)
{
	const char *end = (const char *)pkt + len;

	if (r->kind == MILTER_R_REPLYCODE) {
		CHECK(r->code >= 400 && r->code <= 599);
		/* the text is made safe into the reply's own buffer, bounded by it */
		CHECK(r->text >= r->buf && r->text + strlen(r->text) < r->buf + sizeof(r->buf));
	}
	if (r->kind == MILTER_R_REPLYCODE || r->kind == MILTER_R_QUARANTINE)
		for (const char *p = r->text; *p; p++)
			CHECK(*p >= 0x20 && *p < 0x7f);
	if (r->kind == MILTER_R_ADDHEADER || r->kind == MILTER_R_INSHEADER || r->kind == MILTER_R_CHGHEADER) {
		CHECK(r->name[0] != '\0' && strchr(r->name, ':') == NULL && strchr(r->name, ' ') == NULL);
		CHECK(r->value + strlen(r->value) < end);
		check_value(r->value);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (size - off >= 4) {
		long len = milter_len_decode(data + off);
		struct milter_reply r;
		const char *why = NULL;
		unsigned char *pkt;
		if (len < 0)
			break;
		off += 4;
		if ((size_t)len > size - off)
			break;
		/* a copy of exactly len octets, so ASan sees any overread */
		pkt = malloc((size_t)len);
		memcpy(pkt, data + off, (size_t)len);
		if (milter_reply_decode(pkt, (size_t)len, &r, &why) == 0)
			check_reply(pkt, (size_t)len, &r);
		else
			CHECK(why != NULL);
		free(pkt);
		off += (size_t)len;
	}
	return 0;
}
