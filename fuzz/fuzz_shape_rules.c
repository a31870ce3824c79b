/*
 * fuzz_shape_rules.c - libFuzzer target for the traffic shaping rules
 * reader and matcher (src/shaping/): the input is a whole rules file, and
 * once loaded, also a reply text matched against it. Invariants: a file is
 * loaded or refused with "NAME:LINE: cause", LINE within the file; a match
 * names a rule on a line of the file, with an action in range; matching a
 * catastrophic pattern ends (PCRE2 limits); nothing crashes or leaks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shaping/shape_rules.h"
#include "util/mta_reply.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static const char *const replies[] = {
	"421-4.7.28 [192.0.2.1] unusual rate\r\n421 4.7.28 rate limited - gsmtp\r\n",
	"421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred\r\n",
	"451 4.7.500 Server busy. Please try again later\r\n",
	"550 5.7.1 likely unsolicited mail\r\n",
	"421 Too many sessions opened\r\n",
	"250 2.0.0 ok\r\n",
};

static void
check_action(const struct shape_action *a, bool found, int lines)
{
	if (!found) {
		CHECK(a->kind == SHAPE_NONE && a->rule == NULL);
		return;
	}
	CHECK(a->rule != NULL && a->rule[0] != '\0' && strlen(a->rule) <= SHAPE_NAME_MAX);
	CHECK(a->line >= 1 && a->line <= lines);
	switch (a->kind) {
	case SHAPE_CONNECTIONS: CHECK(a->value >= 1 && a->value <= 10000); break;
	case SHAPE_RATE:        CHECK(a->value >= 1 && a->value <= 1000000); break;
	case SHAPE_SUSPEND:     CHECK(a->value == 0); break;
	case SHAPE_IGNORE:      CHECK(a->value == 0 && a->duration == 0); return;
	case SHAPE_NONE:        CHECK(0);
	}
	CHECK(a->duration >= 1 && a->duration <= SHAPE_DURATION_MAX);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[1024] = "";
	struct shape_action a;
	struct mta_reply r;
	struct shape_rules *rs;
	int lines = 1;
	/* a copy of exactly size octets, so ASan sees any overread */
	char *buf = malloc(size ? size : 1);

	memcpy(buf, data, size);
	for (size_t i = 0; i < size; i++)
		lines += buf[i] == '\n';
	rs = shape_rules_parse("fuzz.rules", buf, size, err, sizeof(err));
	if (rs == NULL) {
		CHECK(strncmp(err, "fuzz.rules:", 11) == 0);
		CHECK(atoi(err + 11) >= 1 && atoi(err + 11) <= lines);
		free(buf);
		return 0;
	}
	CHECK(shape_rules_count(rs) <= SHAPE_RULES_MAX);
	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		CHECK(mta_reply_parse(replies[i], strlen(replies[i]), MTA_REPLY_TOLERANT, &r) > 0);
		check_action(&a, shape_rules_match_reply(rs, &r, &a), lines);
	}
	/* the file's own octets as a reply's text, with and without a status */
	check_action(&a, shape_rules_match(rs, 421, "4.7.0", buf, size, &a), lines);
	check_action(&a, shape_rules_match(rs, 550, NULL, buf, size, &a), lines);
	shape_rules_free(rs);
	free(buf);
	return 0;
}
