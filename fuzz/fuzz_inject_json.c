/*
 * fuzz_inject_json.c - libFuzzer target for the messages of POST
 * /v1/messages (src/inject/): the input is a hostile request body, built as
 * JSON, and as a raw message when its first octet is 'R'. Invariants: a
 * message that is built has CRLF lines only, none longer than 998 octets,
 * no Bcc: field, a From: field, at least one recipient, each of which
 * SMTP's parser takes again; a refusal leaves nothing allocated.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "inject/inject_json.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static void
fuzz_check(const struct inject_msg *m)
{
	const char *hdr_end = memmem(m->data, m->len, "\r\n\r\n", 4);
	char again[SMTP_PATH_MAX + 1], err[128];
	size_t line = 0;

	CHECK(m->len > 2 && strlen(m->data) == m->len && hdr_end != NULL);
	for (size_t i = 0; i < m->len; i++) {
		if (m->data[i] == '\n') {
			CHECK(i > 0 && m->data[i - 1] == '\r');
			line = 0;
		} else if (m->data[i] == '\r')
			CHECK(i + 1 < m->len && m->data[i + 1] == '\n');
		else
			CHECK(++line <= 998);
	}
	for (const char *p = m->data; p != NULL && p < hdr_end; p = strstr(p, "\r\n"), p = p ? p + 2 : p)
		CHECK(strncasecmp(p, "Bcc:", 4) != 0);
	CHECK(m->nrcpts >= 1 && m->nrcpts <= INJECT_RCPTS_MAX);
	for (size_t i = 0; i < m->nrcpts; i++)
		CHECK(inject_addr_parse(m->rcpts[i], again, err, sizeof(err)) == 0 &&
		    strcmp(again, m->rcpts[i]) == 0);
	CHECK(m->message_id[0] == '\0' || m->message_id[0] == '<');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct inject_opts o = { .hostname = "relay.test", .max_size = 1 << 20, .max_line = 998 };
	struct inject_msg m;
	char err[256];
	enum inject_status st;

	if (size > (1 << 20))
		return 0;
	if (size > 0 && data[0] == 'R')
		st = inject_raw_build((const char *)data + 1, size - 1, NULL, NULL, &o, &m, err, sizeof(err));
	else
		st = inject_json_build_text((const char *)data, size, &o, &m, err, sizeof(err));
	if (st != INJECT_OK) {
		CHECK(m.data == NULL && m.rcpts == NULL && err[0] != '\0');
		return 0;
	}
	fuzz_check(&m);
	inject_msg_free(&m);
	return 0;
}
