/*
 * classify.h - the bounce classifier (ferry.conf(5), BOUNCE CLASSIFICATION;
 * docs/configuration.md): which category a delivery failure falls in
 * (invalid-recipient, mailbox-full, spam-block, ...), and whether that
 * category is hard (suppress the recipient at once) or soft (only after
 * repeated failures), and whether a soft one is about the sender (its
 * address, IP, content or authentication: never a reason to suppress the
 * recipient). The categories and the rules that pick them come
 * from a rules file, bounce.rules, shipped as dist/bounce.rules and
 * compiled in as the default; the first rule that matches decides.
 * A loaded set is immutable: a reload builds a new one and struct conf,
 * reference counted, owns it (conf->bounce_rules), so threads classify
 * without locks.
 * STANDARDS: RFC 5321 4.2 (reply codes), RFC 3463 (enhanced status codes),
 * RFC 3464 2.3.6 (Diagnostic-Code: "smtp; 550 5.1.1 ...").
 * SECURITY: the file is the administrator's, parsed with bounded lines
 * (FILE:LINE errors); the text classified is a remote peer's, so every
 * regular expression runs under PCRE2 match, depth and heap limits.
 *
 * FOR DELIVERY AND BOUNCE PROCESSING: with the struct conf the work holds,
 *   a reply (struct mta_reply r, its text starting with the status):
 *     classify_reply(conf->bounce_rules, r.code, NULL, r.text, strlen(r.text), &out);
 *   a DSN's failed recipient (RFC 3464 per-recipient fields):
 *     classify_reply(conf->bounce_rules, 0, STATUS, DIAGNOSTIC_CODE, len, &out);
 *   ("smtp; 550 5.1.1 ..." gives the code; the Status field wins over the
 *   text's). ferry's own failures (mta_reply_set: "5.1.2 Host or domain
 *   name not found", "5.1.10 ... null MX", "4.4.7 message expired") are
 *   classified too. The event carries out.category and out.hard; a
 *   failure with out.sender suppresses nobody (feedback.c); the log
 *   adds rule=out.rule at=out.file:out.line when out.line > 0.
 */
#ifndef FERRY_FEEDBACK_CLASSIFY_H
#define FERRY_FEEDBACK_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>

#define CLASSIFY_NAME_MAX       32             /* octets in a category's name */
#define CLASSIFY_RULE_NAME_MAX  64             /* octets in a rule's name */
#define CLASSIFY_DESC_MAX       200            /* octets in a category's description */
#define CLASSIFY_FILE_MAX       (1024 * 1024)  /* octets in a rules file */
#define CLASSIFY_LINE_MAX       2048           /* octets in a line, without its newline */
#define CLASSIFY_RULES_MAX      2000           /* rules in a file */
#define CLASSIFY_CATEGORIES_MAX 64             /* categories in a file */
#define CLASSIFY_TEXT_MAX       8192           /* octets of text a regular expression sees */
#define CLASSIFY_FALLBACK       "other"        /* the category when no rule matches */
#define CLASSIFY_STATUS_ALTS    4              /* patterns in a rule's STATUS list */

struct classify_rules;   /* immutable once loaded; safe to share between threads */

struct classify_result {
	char        category[CLASSIFY_NAME_MAX + 1];  /* e.g. "invalid-recipient"; "other" when no rule matched */
	bool        hard;                             /* the category's hardness */
	bool        sender;                           /* about the sender: never suppress the recipient */
	const char *rule;                             /* rule name (points into the rules), "" for the fallback */
	const char *file;                             /* where the rule is ("" without rules) */
	unsigned    line;                             /* 0 for the fallback */
	char        status[12];                       /* the enhanced status it went by (given or
	                                               * read from the text), "" none */
};

/* Load a rules file; path NULL = the shipped default compiled in. NULL +
 * "FILE:LINE: message" (or "FILE: message") in err. */
struct classify_rules *classify_rules_load(const char *path, char *err, size_t errlen);
/* The same from text in memory; name stands for the file in messages. */
struct classify_rules *classify_rules_parse(const char *name, const char *text, size_t len,
    char *err, size_t errlen);
void classify_rules_free(struct classify_rules *r);

/* Classify one failure: code = SMTP reply code (0 unknown), status =
 * enhanced status "5.1.1" or NULL, text = the reply / diagnostic text (len
 * octets, may be hostile, need not end in NUL; NULL for none). When code is
 * 0 or status NULL, a code and status at the start of text ("smtp; 550
 * 5.1.1 ...", "550-5.1.1 ...") are used. r NULL: every failure is "other"
 * (soft). Always fills out; thread-safe. */
void classify_reply(const struct classify_rules *r, int code, const char *status, const char *text,
    size_t len, struct classify_result *out);

/* The categories of a set, in file order (for reports and ferryctl):
 * their number, and the i-th one's name, hardness and description. */
size_t classify_category_count(const struct classify_rules *r);
const char *classify_category_get(const struct classify_rules *r, size_t i, bool *hard,
    const char **description);
/* Whether the i-th category is declared "sender" (false past the end). */
bool classify_category_sender(const struct classify_rules *r, size_t i);
size_t classify_rule_count(const struct classify_rules *r);
/* The set's file name, as messages name it ("(embedded bounce.rules)"). */
const char *classify_rules_file(const struct classify_rules *r);

#endif
