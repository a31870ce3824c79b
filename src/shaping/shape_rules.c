/*
 * shape_rules.c - read a traffic shaping rules file (ferry.conf(5), SHAPING RULES) into
 * an immutable set: bounded lines split into words (a regular expression
 * is one quoted word), each line one rule, every regular expression
 * compiled once here. Matching is shape_match.c; the reading of lines and
 * words is util/rulefile.c, shared with bounce.rules.
 * STANDARDS: RFC 5321 4.2.1 (reply code classes), RFC 3463 2 (the form of
 * an enhanced status code: class.subject.detail, 1-3 digits each).
 * SECURITY: the administrator's file, still parsed with explicit lengths:
 * at most SHAPE_FILE_MAX octets, SHAPE_LINE_MAX a line, SHAPE_RULES_MAX
 * rules; every error names FILE:LINE and the cause (PCRE2's own message
 * and offset for a bad regular expression).
 */
#include <stdlib.h>
#include <string.h>

#include "shaping/shape_internal.h"
#include "util/rulefile.h"
#include "util/xmalloc.h"

#define SHAPE_WORDS_MAX 10    /* NAME CODE STATUS TEXT ACTION VALUE for DURATION: 8 */

/* The state of one parse. */
struct shape_parse {
	struct rulefile     f;      /* first: the line callback gets &p->f */
	struct shape_rules *rs;
};

static int
shape_name_set(struct shape_parse *p, struct shape_rule *r, const struct rulefile_word *w)
{
	if (!rulefile_name_valid(w, SHAPE_NAME_MAX))
		return rulefile_fail(&p->f, "rule name '%s': 1-%d letters, digits, '.', '_' or '-'",
		    w->s, SHAPE_NAME_MAX);
	for (size_t i = 0; i < p->rs->nrules; i++)
		if (strcmp(p->rs->rules[i].name, w->s) == 0)
			return rulefile_fail(&p->f, "rule name '%s' is already used on line %d", w->s,
			    p->rs->rules[i].line);
	r->name = xstrdup(w->s);
	return 0;
}

/* CODE, STATUS and TEXT: the syntax is rulefile.c's, the messages ours. */
static int
shape_code_status_text_set(struct shape_parse *p, struct shape_rule *r, const struct rulefile_word *w)
{
	if (rulefile_code_pattern(w[0].s, &r->code_lo, &r->code_hi) < 0)
		return rulefile_fail(&p->f, "reply code '%s': three digits (421), a class (4xx, 45x) or *",
		    w[0].s);
	if (rulefile_status_pattern(w[1].s, r->status) < 0)
		return rulefile_fail(&p->f, "enhanced status '%s': class.subject.detail (4.7.28), "
		    "a prefix (4.7.* or 4.*) or *", w[1].s);
	return rulefile_regex_compile(&p->f, &w[2], &r->re);
}

/* "for 30s|15m|2h|1d" into r->duration; w holds what follows ACTION. */
static int
shape_duration_set(struct shape_parse *p, struct shape_rule *r, const struct rulefile_word *w, int n)
{
	static const struct { char unit; long long mul; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 } };
	long long v;

	if (n > 2 && strcmp(w[0].s, "for") == 0)
		return rulefile_fail(&p->f, "'%s' after the duration (one rule a line; '#' starts a comment)", w[2].s);
	if (n != 2 || w[0].quoted || strcmp(w[0].s, "for") != 0)
		return rulefile_fail(&p->f, "%s needs a duration: 'for 30m' (s, m, h or d)", shape_kind_name(r->kind));
	v = rulefile_digits(w[1].s, w[1].s + (w[1].len > 0 ? w[1].len - 1 : 0), 9);
	for (size_t i = 0; v >= 0 && i < sizeof(units) / sizeof(units[0]); i++) {
		if (w[1].len < 2 || w[1].s[w[1].len - 1] != units[i].unit)
			continue;
		r->duration = v * units[i].mul;
		if (r->duration < 1 || r->duration > SHAPE_DURATION_MAX)
			return rulefile_fail(&p->f, "duration '%s' is out of range [1s, %dd]", w[1].s,
			    SHAPE_DURATION_MAX / 86400);
		return 0;
	}
	return rulefile_fail(&p->f, "duration '%s': a number and a unit, s, m, h or d (30m)", w[1].s);
}

/* ACTION [VALUE] [for DURATION]: w[0] is the action's word, n the words left. */
static int
shape_action_set(struct shape_parse *p, struct shape_rule *r, const struct rulefile_word *w, int n)
{
	const char *v = n > 1 ? w[1].s : "";
	int used = 1;

	if (strcmp(w[0].s, "connections") == 0) {
		r->kind = SHAPE_CONNECTIONS;
		r->value = n > 1 ? rulefile_digits(v, v + strlen(v), 9) : -1;
		if (r->value < 1 || r->value > 10000)
			return rulefile_fail(&p->f, "connections '%s': a number of connections, 1 to 10000", v);
		used = 2;
	} else if (strcmp(w[0].s, "rate") == 0) {
		size_t len = strlen(v);
		r->kind = SHAPE_RATE;
		r->value = len > 4 && strcmp(v + len - 4, "/min") == 0 ? rulefile_digits(v, v + len - 4, 9) : -1;
		if (r->value < 1 || r->value > 1000000)
			return rulefile_fail(&p->f, "rate '%s': messages per minute, 1/min to 1000000/min", v);
		used = 2;
	} else if (strcmp(w[0].s, "suspend") == 0) {
		r->kind = SHAPE_SUSPEND;
	} else if (strcmp(w[0].s, "ignore") == 0) {
		r->kind = SHAPE_IGNORE;
		if (n > 1)
			return rulefile_fail(&p->f, "ignore takes no value nor duration");
		return 0;
	} else
		return rulefile_fail(&p->f, "action '%s': connections N, rate N/min, suspend or ignore", w[0].s);
	return shape_duration_set(p, r, w + used, n - used);
}

static void
shape_rule_clear(struct shape_rule *r)
{
	free(r->name);
	pcre2_code_free(r->re);
}

/* One line's words into a new rule. */
static int
shape_rule_add(struct shape_parse *p, struct rulefile_word *w, int n)
{
	struct shape_rules *rs = p->rs;
	struct shape_rule r = { .line = p->f.line };

	if (n < 5)
		return rulefile_fail(&p->f, "a rule is NAME CODE STATUS TEXT ACTION [for DURATION]; "
		    "this line has %d word%s", n, n == 1 ? "" : "s");
	if (rs->nrules == SHAPE_RULES_MAX)
		return rulefile_fail(&p->f, "more than %d rules", SHAPE_RULES_MAX);
	for (int i = 0; i < n; i++)
		if (w[i].quoted && i != 3)
			return rulefile_fail(&p->f, "word %d is quoted: only TEXT, the 4th, is", i + 1);
	if (shape_name_set(p, &r, &w[0]) < 0 || shape_code_status_text_set(p, &r, &w[1]) < 0 ||
	    shape_action_set(p, &r, w + 4, n - 4) < 0) {
		shape_rule_clear(&r);
		return -1;
	}
	rs->rules = xrealloc(rs->rules, (rs->nrules + 1) * sizeof(r));
	rs->rules[rs->nrules++] = r;
	return 0;
}

/* One line's words, from the reader. */
static int
shape_line_apply(struct rulefile *f, struct rulefile_word *w, int n, void *arg)
{
	(void)arg;
	return shape_rule_add((struct shape_parse *)f, w, n);
}

static struct shape_rules *
shape_rules_new(const char *name)
{
	struct shape_rules *rs = xcalloc(1, sizeof(*rs));

	rs->file = xstrdup(name);
	if ((rs->mctx = rulefile_match_context()) == NULL) {
		free(rs->file);
		free(rs);
		return NULL;
	}
	return rs;
}

static void
shape_parse_init(struct shape_parse *p, const char *name, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	p->f.name = name;
	p->f.file_max = SHAPE_FILE_MAX;
	p->f.line_max = SHAPE_LINE_MAX;
	p->f.words_max = SHAPE_WORDS_MAX;
	p->f.too_many = "a rule is NAME CODE STATUS TEXT ACTION [for DURATION]";
	p->f.err = err;
	p->f.errlen = errlen;
}

struct shape_rules *
shape_rules_parse(const char *name, const char *text, size_t len, char *err, size_t errlen)
{
	struct shape_parse p;

	shape_parse_init(&p, name, err, errlen);
	if ((p.rs = shape_rules_new(name)) == NULL) {
		rulefile_fail(&p.f, "out of memory");
		return NULL;
	}
	if (rulefile_parse(&p.f, text, len, shape_line_apply, NULL) < 0) {
		shape_rules_free(p.rs);
		return NULL;
	}
	return p.rs;
}

struct shape_rules *
shape_rules_load(const char *path, char *err, size_t errlen)
{
	struct shape_parse p;
	struct shape_rules *rs;
	size_t len;
	char *text;

	shape_parse_init(&p, path, err, errlen);
	if ((text = rulefile_read(&p.f, &len)) == NULL)
		return NULL;
	rs = shape_rules_parse(path, text, len, err, errlen);
	free(text);
	return rs;
}

struct shape_rules *
shape_rules_default(char *err, size_t errlen)
{
	return shape_rules_parse("(embedded shaping.rules)", shape_default_text, shape_default_len,
	    err, errlen);
}

void
shape_rules_free(struct shape_rules *rs)
{
	if (rs == NULL)
		return;
	for (size_t i = 0; i < rs->nrules; i++)
		shape_rule_clear(&rs->rules[i]);
	free(rs->rules);
	pcre2_match_context_free(rs->mctx);
	free(rs->file);
	free(rs);
}

size_t
shape_rules_count(const struct shape_rules *rs)
{
	return rs != NULL ? rs->nrules : 0;
}
