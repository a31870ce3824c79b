/*
 * classify_parse.c - read a bounce classification rules file (ferry.conf(5),
 * BOUNCE CLASSIFICATION) into an immutable set: "category" lines declare
 * the categories and their hardness, "rule" lines say which failures fall
 * in which category; every regular expression is compiled once here. Lines
 * and words come from util/rulefile.c (the reader shaping.rules uses too).
 * A soft category may be "sender": its failures are about ferry's sender
 * (address, IP, content, authentication) and never suppress a recipient.
 * STANDARDS: RFC 5321 4.2.1 (reply code classes), RFC 3463 2 (enhanced
 * status codes: class.subject.detail, 1-3 digits each).
 * SECURITY: the administrator's file, still parsed with explicit lengths:
 * at most CLASSIFY_FILE_MAX octets, CLASSIFY_LINE_MAX a line,
 * CLASSIFY_RULES_MAX rules; every error names FILE:LINE and the cause.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "feedback/classify_internal.h"
#include "util/rulefile.h"
#include "util/xmalloc.h"

#define CLASSIFY_SYNTAX "category NAME hard|soft [sender] \"DESCRIPTION\" or rule NAME CATEGORY CODE STATUS TEXT"

/* The state of one parse. */
struct classify_parse {
	struct rulefile        f;    /* first: the line callback gets &p->f */
	struct classify_rules *r;
};

static ssize_t
classify_category_find(const struct classify_rules *r, const char *name)
{
	for (size_t i = 0; i < r->ncategories; i++)
		if (strcmp(r->categories[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

/* The words after NAME: hard|soft, then "sender" on a soft category. The
 * index of the description's word, or -1. */
static int
classify_category_kind_set(struct classify_parse *p, struct classify_category *c,
    const struct rulefile_word *w, int n)
{
	if (w[2].quoted || (strcmp(w[2].s, "hard") != 0 && strcmp(w[2].s, "soft") != 0))
		return rulefile_fail(&p->f, "category '%s': '%s' is not hard or soft", w[1].s, w[2].s);
	c->hard = strcmp(w[2].s, "hard") == 0;
	if (c->hard && strcmp(w[1].s, CLASSIFY_FALLBACK) == 0)
		return rulefile_fail(&p->f, "category '%s' must be soft: it takes every failure no rule "
		    "knows, and one unknown reply must not suppress an address", CLASSIFY_FALLBACK);
	if (n == 4)
		return 3;
	if (w[3].quoted)
		return rulefile_fail(&p->f, "category '%s': one description in double quotes, after "
		    "hard|soft [sender]", w[1].s);
	if (strcmp(w[3].s, "sender") != 0)
		return rulefile_fail(&p->f, "category '%s': '%s' is not 'sender' (the only word allowed "
		    "between hard|soft and the description)", w[1].s, w[3].s);
	/* hard suppresses at once: a failure about the sender must never */
	if (c->hard)
		return rulefile_fail(&p->f, "category '%s': a hard category cannot be 'sender' (hard "
		    "suppresses the recipient at once, sender never does)", w[1].s);
	c->sender = true;
	return 4;
}

/* category NAME hard|soft [sender] "DESCRIPTION" */
static int
classify_category_add(struct classify_parse *p, struct rulefile_word *w, int n)
{
	struct classify_rules *r = p->r;
	struct classify_category c = { .line = (unsigned)p->f.line };
	ssize_t dup;
	int d;

	if (n != 4 && n != 5)
		return rulefile_fail(&p->f, "a category is: category NAME hard|soft [sender] \"DESCRIPTION\"; "
		    "this line has %d word%s", n, n == 1 ? "" : "s");
	if (!rulefile_name_valid(&w[1], CLASSIFY_NAME_MAX))
		return rulefile_fail(&p->f, "category name '%s': 1-%d letters, digits, '.', '_' or '-'",
		    w[1].s, CLASSIFY_NAME_MAX);
	if ((dup = classify_category_find(r, w[1].s)) >= 0)
		return rulefile_fail(&p->f, "category '%s' is already declared on line %u", w[1].s,
		    r->categories[dup].line);
	if (r->ncategories == CLASSIFY_CATEGORIES_MAX)
		return rulefile_fail(&p->f, "more than %d categories", CLASSIFY_CATEGORIES_MAX);
	if ((d = classify_category_kind_set(p, &c, w, n)) < 0)
		return -1;
	if (!w[d].quoted || w[d].icase || w[d].len > CLASSIFY_DESC_MAX)
		return rulefile_fail(&p->f, "category '%s': the description is text in double quotes, "
		    "at most %d octets", w[1].s, CLASSIFY_DESC_MAX);
	memcpy(c.name, w[1].s, w[1].len + 1);
	c.description = xstrdup(w[d].s);
	r->categories = xrealloc(r->categories, (r->ncategories + 1) * sizeof(c));
	r->categories[r->ncategories++] = c;
	return 0;
}

/* STATUS: "*" (any, or none), or a comma-separated list of up to
 * CLASSIFY_STATUS_ALTS patterns (5.1.1, 5.1.*, 5.*) and "none" (no status
 * known), so a rule can say "no status, or a recipient's one". */
static int
classify_status_set(struct classify_parse *p, struct classify_rule *rule, const char *word)
{
	const char *s = word;
	char item[32];
	size_t n;

	if (strcmp(word, "*") == 0) {
		rule->status_any = true;
		return 0;
	}
	for (;;) {
		n = strcspn(s, ",");
		if (n == 0 || n >= sizeof(item) || rule->nstatus + rule->status_none == CLASSIFY_STATUS_ALTS)
			goto bad;
		memcpy(item, s, n);
		item[n] = '\0';
		if (strcmp(item, "none") == 0)
			rule->status_none = true;
		else if (strcmp(item, "*") == 0 || rulefile_status_pattern(item, rule->status[rule->nstatus++]) < 0)
			goto bad;
		if (s[n] == '\0')
			return 0;
		s += n + 1;
	}
bad:
	return rulefile_fail(&p->f, "enhanced status '%s': class.subject.detail (5.1.1), a prefix "
	    "(5.1.* or 5.*), * or a comma-separated list of up to %d such patterns and none, no "
	    "status (none,5.1.*)", word, CLASSIFY_STATUS_ALTS);
}

/* CODE, STATUS and TEXT: the syntax is rulefile.c's, the messages ours. */
static int
classify_code_status_text_set(struct classify_parse *p, struct classify_rule *rule,
    const struct rulefile_word *w)
{
	if (rulefile_code_pattern(w[0].s, &rule->code_lo, &rule->code_hi) < 0)
		return rulefile_fail(&p->f, "reply code '%s': three digits (550), a class (5xx, 55x) or *",
		    w[0].s);
	if (classify_status_set(p, rule, w[1].s) < 0)
		return -1;
	return rulefile_regex_compile(&p->f, &w[2], &rule->re);
}

static void
classify_rule_clear(struct classify_rule *rule)
{
	free(rule->name);
	pcre2_code_free(rule->re);
}

static int
classify_rule_name_set(struct classify_parse *p, struct classify_rule *rule, const struct rulefile_word *w)
{
	if (!rulefile_name_valid(w, CLASSIFY_RULE_NAME_MAX))
		return rulefile_fail(&p->f, "rule name '%s': 1-%d letters, digits, '.', '_' or '-'",
		    w->s, CLASSIFY_RULE_NAME_MAX);
	for (size_t i = 0; i < p->r->nrules; i++)
		if (strcmp(p->r->rules[i].name, w->s) == 0)
			return rulefile_fail(&p->f, "rule name '%s' is already used on line %u", w->s,
			    p->r->rules[i].line);
	rule->name = xstrdup(w->s);
	return 0;
}

static int
classify_rule_category_set(struct classify_parse *p, struct classify_rule *rule, const struct rulefile_word *w)
{
	ssize_t i = w->quoted ? -1 : classify_category_find(p->r, w->s);

	if (i < 0)
		return rulefile_fail(&p->f, "category '%s' is not declared (a 'category' line above "
		    "this one declares it)", w->s);
	rule->category = (size_t)i;
	return 0;
}

/* rule NAME CATEGORY CODE STATUS TEXT */
static int
classify_rule_add(struct classify_parse *p, struct rulefile_word *w, int n)
{
	struct classify_rules *r = p->r;
	struct classify_rule rule = { .line = (unsigned)p->f.line };

	if (n != 6)
		return rulefile_fail(&p->f, "a rule is: rule NAME CATEGORY CODE STATUS TEXT; "
		    "this line has %d word%s", n, n == 1 ? "" : "s");
	if (r->nrules == CLASSIFY_RULES_MAX)
		return rulefile_fail(&p->f, "more than %d rules", CLASSIFY_RULES_MAX);
	for (int i = 1; i < 5; i++)
		if (w[i].quoted)
			return rulefile_fail(&p->f, "word %d is quoted: only TEXT, the 6th, is", i + 1);
	if (classify_rule_name_set(p, &rule, &w[1]) < 0 || classify_rule_category_set(p, &rule, &w[2]) < 0 ||
	    classify_code_status_text_set(p, &rule, &w[3]) < 0) {
		classify_rule_clear(&rule);
		return -1;
	}
	r->rules = xrealloc(r->rules, (r->nrules + 1) * sizeof(rule));
	r->rules[r->nrules++] = rule;
	return 0;
}

/* One line's words, from the reader. */
static int
classify_line_apply(struct rulefile *f, struct rulefile_word *w, int n, void *arg)
{
	struct classify_parse *p = (struct classify_parse *)f;

	(void)arg;
	if (!w[0].quoted && strcmp(w[0].s, "category") == 0)
		return classify_category_add(p, w, n);
	if (!w[0].quoted && strcmp(w[0].s, "rule") == 0)
		return classify_rule_add(p, w, n);
	return rulefile_fail(f, "'%s' starts no known line: %s", w[0].s, CLASSIFY_SYNTAX);
}

static struct classify_rules *
classify_rules_new(const char *name)
{
	struct classify_rules *r = xcalloc(1, sizeof(*r));

	r->file = xstrdup(name);
	if ((r->mctx = rulefile_match_context()) == NULL) {
		free(r->file);
		free(r);
		return NULL;
	}
	return r;
}

static void
classify_parse_init(struct classify_parse *p, const char *name, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	p->f.name = name;
	p->f.file_max = CLASSIFY_FILE_MAX;
	p->f.line_max = CLASSIFY_LINE_MAX;
	p->f.words_max = 8;
	p->f.too_many = CLASSIFY_SYNTAX;
	p->f.err = err;
	p->f.errlen = errlen;
}

struct classify_rules *
classify_rules_parse(const char *name, const char *text, size_t len, char *err, size_t errlen)
{
	struct classify_parse p;
	ssize_t fallback;

	classify_parse_init(&p, name, err, errlen);
	if ((p.r = classify_rules_new(name)) == NULL) {
		rulefile_fail(&p.f, "out of memory");
		return NULL;
	}
	if (rulefile_parse(&p.f, text, len, classify_line_apply, NULL) < 0)
		goto fail;
	/* after the last line: the message names the file alone */
	p.f.line = 0;
	if ((fallback = classify_category_find(p.r, CLASSIFY_FALLBACK)) < 0) {
		rulefile_fail(&p.f, "no category '%s': declare it (soft), it takes every failure "
		    "no rule matches", CLASSIFY_FALLBACK);
		goto fail;
	}
	p.r->fallback = (size_t)fallback;
	return p.r;
fail:
	classify_rules_free(p.r);
	return NULL;
}

struct classify_rules *
classify_rules_load(const char *path, char *err, size_t errlen)
{
	struct classify_parse p;
	struct classify_rules *r;
	size_t len;
	char *text;

	if (path == NULL)
		return classify_rules_parse("(embedded bounce.rules)", classify_default_text,
		    classify_default_len, err, errlen);
	classify_parse_init(&p, path, err, errlen);
	if ((text = rulefile_read(&p.f, &len)) == NULL)
		return NULL;
	r = classify_rules_parse(path, text, len, err, errlen);
	free(text);
	return r;
}

void
classify_rules_free(struct classify_rules *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nrules; i++)
		classify_rule_clear(&r->rules[i]);
	for (size_t i = 0; i < r->ncategories; i++)
		free(r->categories[i].description);
	free(r->rules);
	free(r->categories);
	pcre2_match_context_free(r->mctx);
	free(r->file);
	free(r);
}
