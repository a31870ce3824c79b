/*
 * shape_match.c - which rule of a loaded set (shape_rules.c) a reply
 * matches: the first, in file order, whose code range, enhanced status
 * (exact or prefix) and regular expression all accept it.
 * STANDARDS: RFC 3463 2 (enhanced status: class.subject.detail, the
 * class 2, 4 or 5, subject and detail 1-3 digits).
 * SECURITY: the reply is a remote peer's: its enhanced status is parsed
 * with explicit lengths, and each PCRE2 match runs under the set's match,
 * depth and heap limits with its own match data, so a pattern that would
 * backtrack for minutes gives up after a bounded amount of work.
 */
#include <stdio.h>
#include <string.h>

#include "shaping/shape_internal.h"
#include "util/mta_reply.h"

/* An enhanced status at the start of s (len octets) into st; the octets it
 * takes (up to the space or end after it), 0 when there is none. */
static size_t
shape_status_parse(const char *s, size_t len, int st[3])
{
	size_t i = 0;

	for (int part = 0; part < 3; part++) {
		size_t start = i;
		int v = 0;
		while (i < len && i - start < 3 && s[i] >= '0' && s[i] <= '9')
			v = v * 10 + (s[i++] - '0');
		if (i == start || (part < 2 && (i == len || s[i] != '.')))
			return 0;
		st[part] = v;
		if (part < 2)
			i++;
	}
	if ((i < len && s[i] != ' ') || (st[0] != 2 && st[0] != 4 && st[0] != 5))
		return 0;
	return i;
}

static bool
shape_status_matches(const struct shape_rule *r, bool has, const int st[3])
{
	if (r->status[0] < 0)
		return true;
	if (!has)
		return false;
	for (int i = 0; i < 3; i++)
		if (r->status[i] >= 0 && r->status[i] != st[i])
			return false;
	return true;
}

/* The regular expression: a match, no match, or a limit reached (also "no
 * match": the rule stays silent rather than the delivery waiting). */
static bool
shape_text_matches(const struct shape_rules *rs, const struct shape_rule *r,
    pcre2_match_data *md, const char *text, size_t len)
{
	if (r->re == NULL)
		return true;
	if (md == NULL)
		return false;
	return pcre2_match(r->re, (PCRE2_SPTR)text, len, 0, 0, md, rs->mctx) >= 0;
}

bool
shape_rules_match(const struct shape_rules *rs, int code, const char *enhanced,
    const char *text, size_t len, struct shape_action *out)
{
	int st[3] = { 0, 0, 0 };
	bool has = enhanced != NULL &&
	    shape_status_parse(enhanced, strlen(enhanced), st) == strlen(enhanced);
	pcre2_match_data *md = NULL;
	bool found = false;

	memset(out, 0, sizeof(*out));
	out->kind = SHAPE_NONE;
	if (rs == NULL || rs->nrules == 0)
		return false;
	if (text == NULL)
		len = 0;
	/* one ovector pair is all a yes/no match needs; made per call so
	 * threads share nothing mutable */
	md = pcre2_match_data_create(1, NULL);
	for (size_t i = 0; i < rs->nrules && !found; i++) {
		const struct shape_rule *r = &rs->rules[i];
		if (code < r->code_lo || code > r->code_hi || !shape_status_matches(r, has, st) ||
		    !shape_text_matches(rs, r, md, text != NULL ? text : "", len))
			continue;
		out->kind = r->kind;
		out->value = r->value;
		out->duration = r->duration;
		out->rule = r->name;
		out->file = rs->file;
		out->line = r->line;
		found = true;
	}
	pcre2_match_data_free(md);
	return found;
}

bool
shape_rules_match_reply(const struct shape_rules *rs, const struct mta_reply *r,
    struct shape_action *out)
{
	char enhanced[16];
	int st[3];
	size_t len = strlen(r->text);
	size_t n = shape_status_parse(r->text, len, st);
	const char *text = r->text + n;

	if (n > 0)
		snprintf(enhanced, sizeof(enhanced), "%d.%d.%d", st[0], st[1], st[2]);
	text += strspn(text, " ");
	return shape_rules_match(rs, r->code, n > 0 ? enhanced : NULL, text,
	    len - (size_t)(text - r->text), out);
}

const char *
shape_kind_name(enum shape_kind k)
{
	switch (k) {
	case SHAPE_NONE:        return "none";
	case SHAPE_CONNECTIONS: return "connections";
	case SHAPE_RATE:        return "rate";
	case SHAPE_SUSPEND:     return "suspend";
	case SHAPE_IGNORE:      return "ignore";
	}
	return "?";
}
