/*
 * fuzz_classify_rules.c - libFuzzer target for the bounce classification
 * rules reader and classifier (src/feedback/classify*.c, util/rulefile.c):
 * the input is a whole rules file, and once loaded, also a failure's text
 * classified against it. Invariants: a file is loaded or refused with
 * "NAME:LINE: cause" (LINE within the file) or "NAME: cause" (the missing
 * fallback category); a result names a declared category, is soft when no
 * rule matched, and a matching rule sits on a line of the file; hostile
 * text and catastrophic patterns end (PCRE2 limits); nothing crashes or
 * leaks. The shipped rules classify the input as a reply's text as well.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "feedback/classify.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static const char *const replies[] = {
	"550-5.1.1 The email account that you tried to reach does not exist.\r\n550 5.1.1 gsmtp\r\n",
	"smtp; 554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
	"X-Postfix; Host or domain name not found. Name service error for name=nx.test type=A",
	"421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred",
	"",
};

static void
check_result(const struct classify_rules *r, const struct classify_result *res, int lines)
{
	bool found = false, hard = false, sender = false;
	const char *name;

	CHECK(strlen(res->category) >= 1 && strlen(res->category) <= CLASSIFY_NAME_MAX);
	for (size_t i = 0; (name = classify_category_get(r, i, &hard, NULL)) != NULL; i++)
		if (strcmp(name, res->category) == 0) {
			found = true;
			sender = classify_category_sender(r, i);
			break;
		}
	CHECK(found && hard == res->hard);
	/* a hard category is never "sender": the parser refuses it */
	CHECK(sender == res->sender && !(res->hard && res->sender));
	if (res->line == 0) {
		CHECK(res->rule[0] == '\0' && strcmp(res->category, CLASSIFY_FALLBACK) == 0 && !res->hard);
		return;
	}
	CHECK(res->rule[0] != '\0' && strlen(res->rule) <= CLASSIFY_RULE_NAME_MAX);
	CHECK((int)res->line >= 1 && (int)res->line <= lines);
}

static void
classify_all(const struct classify_rules *r, const char *buf, size_t size, int lines)
{
	static const int codes[] = { 0, 421, 450, 550, 554 };
	static const char *const statuses[] = { NULL, "5.1.1", "4.7.28", "5.7.1", "2.0.0" };
	struct classify_result res;

	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		classify_reply(r, 0, NULL, replies[i], strlen(replies[i]), &res);
		check_result(r, &res, lines);
	}
	/* the input's own octets as the text, under several codes and statuses */
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		classify_reply(r, codes[i], statuses[i], buf, size, &res);
		check_result(r, &res, lines);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct classify_rules *shipped;
	char err[1024] = "";
	struct classify_rules *r;
	int lines = 1;
	/* a copy of exactly size octets, so ASan sees any overread */
	char *buf = malloc(size ? size : 1);

	if (shipped == NULL)
		CHECK((shipped = classify_rules_load(NULL, err, sizeof(err))) != NULL);
	memcpy(buf, data, size);
	for (size_t i = 0; i < size; i++)
		lines += buf[i] == '\n';
	classify_all(shipped, buf, size, 1000000);
	r = classify_rules_parse("fuzz.rules", buf, size, err, sizeof(err));
	if (r == NULL) {
		CHECK(strncmp(err, "fuzz.rules:", 11) == 0);
		CHECK(err[11] == ' ' || (atoi(err + 11) >= 1 && atoi(err + 11) <= lines));
		free(buf);
		return 0;
	}
	CHECK(classify_rule_count(r) <= CLASSIFY_RULES_MAX);
	CHECK(classify_category_count(r) >= 1 && classify_category_count(r) <= CLASSIFY_CATEGORIES_MAX);
	classify_all(r, buf, size, lines);
	classify_rules_free(r);
	free(buf);
	return 0;
}
