/*
 * classify.c - which category one delivery failure falls in: the first
 * rule of a loaded set (classify_parse.c), in file order, whose reply code,
 * enhanced status and regular expression all accept it; else the fallback
 * category "other".
 * STANDARDS: RFC 5321 4.2 (a reply: code, '-' on every line but the last),
 * RFC 3463 2 (enhanced status: class.subject.detail), RFC 3464 2.3.6
 * (Diagnostic-Code: a diagnostic type, ';', the reply).
 * SECURITY: the text is a remote peer's (a reply, or a DSN written by
 * anyone): read with its explicit length, only its first CLASSIFY_TEXT_MAX
 * octets reach the regular expressions, and each PCRE2 match runs under
 * the set's match, depth and heap limits with its own match data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feedback/classify_internal.h"

/* What a failure's text says about itself once read. */
struct classify_input {
	int    code;          /* 0: unknown */
	bool   has_status;
	int    status[3];
	char  *text;          /* the rest: one line, single spaces; malloc'd */
	size_t len;
};

static bool
classify_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* An enhanced status at s (up to end) into st: the octets it takes, when
 * a space, '-', ';', ')' or the end follows it; 0 when there is none. */
static size_t
classify_status_scan(const char *s, const char *end, int st[3])
{
	const char *q = s;

	for (int part = 0; part < 3; part++) {
		const char *start = q;
		int v = 0;
		while (q < end && q - start < 3 && classify_digit(*q))
			v = v * 10 + (*q++ - '0');
		if (q == start || (part < 2 && (q == end || *q != '.')))
			return 0;
		st[part] = v;
		if (part < 2)
			q++;
	}
	if ((q < end && *q != ' ' && *q != '\t' && *q != '-' && *q != ';' && *q != ')' && *q != '\r' &&
	    *q != '\n') ||
	    (st[0] != 2 && st[0] != 4 && st[0] != 5))
		return 0;
	return (size_t)(q - s);
}

/* A reply code at s: 3 digits, the first 2-5, then a space, '-', a line's
 * end or the end. The code, or 0. */
static int
classify_code_scan(const char *s, const char *end)
{
	if (end - s < 3 || s[0] < '2' || s[0] > '5' || !classify_digit(s[1]) || !classify_digit(s[2]))
		return 0;
	if (end - s > 3 && s[3] != ' ' && s[3] != '-' && s[3] != '\r' && s[3] != '\n' && s[3] != '\t')
		return 0;
	return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

/* Past a leading diagnostic type ("smtp;", "X-Postfix;"), spaces, the
 * reply code (kept in in->code when it knew none) and enhanced status.
 * A '#' before the code is Exchange's older NDR form ("#550 5.1.1 ..."). */
static const char *
classify_head_skip(struct classify_input *in, const char *s, const char *end, bool code_given,
    bool status_given)
{
	const char *q = s;
	int code, st[3];
	size_t n;

	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	if (q < end && *q == '#')
		q++;
	for (n = 0; q + n < end && n < 20 && (classify_digit(q[n]) || q[n] == '-' ||
	    (q[n] >= 'a' && q[n] <= 'z') || (q[n] >= 'A' && q[n] <= 'Z')); n++)
		;
	if (n > 0 && q + n < end && q[n] == ';' && !classify_digit(q[0]))
		for (q += n + 1; q < end && (*q == ' ' || *q == '\t'); q++)
			;
	if ((code = classify_code_scan(q, end)) != 0) {
		if (!code_given)
			in->code = code;
		for (q += 3; q < end && (*q == ' ' || *q == '-'); q++)
			;
	}
	if ((n = classify_status_scan(q, end, st)) > 0) {
		if (!status_given) {
			in->has_status = true;
			memcpy(in->status, st, sizeof(st));
		}
		for (q += n; q < end && *q == ' '; q++)
			;
	}
	return q;
}

/* At the start of a continuation line: past a repeated "550-5.1.1 " or
 * "550 5.1.1 " (RFC 5321 multi-line reply), so lines join as one text. */
static const char *
classify_line_prefix_skip(const char *s, const char *end)
{
	int st[3];
	size_t n;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (classify_code_scan(s, end) == 0 || end - s < 4 || (s[3] != ' ' && s[3] != '-'))
		return s;
	s += 4;
	if ((n = classify_status_scan(s, end, st)) > 0)
		for (s += n; s < end && *s == ' '; s++)
			;
	return s;
}

/* The text after its head, lines joined and every run of white space or
 * control octets one space, at most CLASSIFY_TEXT_MAX octets. */
static int
classify_text_fold(struct classify_input *in, const char *s, const char *end)
{
	bool space = false;

	if ((in->text = malloc(CLASSIFY_TEXT_MAX + 1)) == NULL)
		return -1;
	in->len = 0;
	while (s < end && in->len < CLASSIFY_TEXT_MAX) {
		unsigned char ch = (unsigned char)*s++;
		if (ch == '\n') {
			s = classify_line_prefix_skip(s, end);
			space = in->len > 0;
			continue;
		}
		if (ch < 0x20 || ch == 0x7f || ch == ' ') {
			space = in->len > 0;
			continue;
		}
		if (space && in->len + 1 < CLASSIFY_TEXT_MAX)
			in->text[in->len++] = ' ';
		space = false;
		in->text[in->len++] = (char)ch;
	}
	in->text[in->len] = '\0';
	return 0;
}

/* qmail's way: no status up front, "(#5.1.1)" at the end of the text. */
static void
classify_status_qmail(struct classify_input *in)
{
	const char *s = in->text, *end = in->text + in->len;
	int st[3];
	size_t n;

	while ((s = memchr(s, '(', (size_t)(end - s))) != NULL) {
		s++;
		if (end - s < 2 || s[0] != '#')
			continue;
		n = classify_status_scan(s + 1, end, st);
		if (n > 0 && s + 1 + n < end && s[1 + n] == ')') {
			in->has_status = true;
			memcpy(in->status, st, sizeof(st));
			return;
		}
	}
}

/* The caller's code and status, completed from the text's head (or a
 * qmail status at its end). */
static int
classify_input_read(struct classify_input *in, int code, const char *status, const char *text, size_t len)
{
	const char *end = text != NULL ? text + len : NULL;
	const char *rest;

	memset(in, 0, sizeof(*in));
	in->code = code >= 200 && code <= 599 ? code : 0;
	if (status != NULL) {
		size_t slen = strnlen(status, 16);
		in->has_status = classify_status_scan(status, status + slen, in->status) == slen && slen > 0;
	}
	if (text == NULL)
		text = end = "";
	rest = classify_head_skip(in, text, end, in->code != 0, in->has_status);
	if (classify_text_fold(in, rest, end) < 0)
		return -1;
	if (!in->has_status)
		classify_status_qmail(in);
	return 0;
}

/* A rule's CODE against the failure's: an unknown code (0) matches "*",
 * and a whole class (5xx) when the enhanced status has that class. */
static bool
classify_code_matches(const struct classify_rule *rule, const struct classify_input *in)
{
	if (rule->code_lo == 0)
		return true;
	if (in->code != 0)
		return in->code >= rule->code_lo && in->code <= rule->code_hi;
	return in->has_status && rule->code_hi - rule->code_lo == 99 &&
	    rule->code_lo == in->status[0] * 100;
}

/* A rule's STATUS against the failure's: "*" takes anything, "none" a
 * failure without a status, a pattern's -1 parts any value. */
static bool
classify_status_matches(const struct classify_rule *rule, const struct classify_input *in)
{
	if (rule->status_any)
		return true;
	if (!in->has_status)
		return rule->status_none;
	for (int a = 0; a < rule->nstatus; a++) {
		bool ok = true;
		for (int i = 0; i < 3 && ok; i++)
			ok = rule->status[a][i] < 0 || rule->status[a][i] == in->status[i];
		if (ok)
			return true;
	}
	return false;
}

/* A regular expression that reaches a PCRE2 limit counts as not matching. */
static bool
classify_text_matches(const struct classify_rules *r, const struct classify_rule *rule,
    pcre2_match_data *md, const struct classify_input *in)
{
	if (rule->re == NULL)
		return true;
	if (md == NULL)
		return false;
	return pcre2_match(rule->re, (PCRE2_SPTR)in->text, in->len, 0, 0, md, r->mctx) >= 0;
}

static void
classify_result_set(struct classify_result *out, const struct classify_rules *r,
    const struct classify_category *c, const char *rule, unsigned line)
{
	snprintf(out->category, sizeof(out->category), "%s", c != NULL ? c->name : CLASSIFY_FALLBACK);
	out->hard = c != NULL && c->hard;
	out->sender = c != NULL && c->sender;
	out->rule = rule;
	out->file = r != NULL ? r->file : "";
	out->line = line;
}

void
classify_reply(const struct classify_rules *r, int code, const char *status, const char *text,
    size_t len, struct classify_result *out)
{
	struct classify_input in;
	pcre2_match_data *md;

	classify_result_set(out, r, r != NULL ? &r->categories[r->fallback] : NULL, "", 0);
	out->status[0] = '\0';
	/* out of memory: the fallback, as for a failure no rule knows */
	if (classify_input_read(&in, code, status, text, len) < 0)
		return;
	if (in.has_status)
		snprintf(out->status, sizeof(out->status), "%d.%d.%d", in.status[0], in.status[1], in.status[2]);
	if (r == NULL || r->nrules == 0) {
		free(in.text);
		return;
	}
	/* one ovector pair is all a yes/no match needs; made per call so
	 * threads share nothing mutable */
	md = pcre2_match_data_create(1, NULL);
	for (size_t i = 0; i < r->nrules; i++) {
		const struct classify_rule *rule = &r->rules[i];
		if (!classify_code_matches(rule, &in) || !classify_status_matches(rule, &in) ||
		    !classify_text_matches(r, rule, md, &in))
			continue;
		classify_result_set(out, r, &r->categories[rule->category], rule->name, rule->line);
		break;
	}
	pcre2_match_data_free(md);
	free(in.text);
}

size_t
classify_category_count(const struct classify_rules *r)
{
	return r != NULL ? r->ncategories : 0;
}

const char *
classify_category_get(const struct classify_rules *r, size_t i, bool *hard, const char **description)
{
	if (r == NULL || i >= r->ncategories)
		return NULL;
	if (hard != NULL)
		*hard = r->categories[i].hard;
	if (description != NULL)
		*description = r->categories[i].description;
	return r->categories[i].name;
}

bool
classify_category_sender(const struct classify_rules *r, size_t i)
{
	return r != NULL && i < r->ncategories && r->categories[i].sender;
}

size_t
classify_rule_count(const struct classify_rules *r)
{
	return r != NULL ? r->nrules : 0;
}

const char *
classify_rules_file(const struct classify_rules *r)
{
	return r != NULL ? r->file : "";
}
