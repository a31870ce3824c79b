/*
 * shape_rules.h - the traffic shaping rules file (ferry.conf(5), SHAPING RULES; docs/configuration.md): which
 * replies of a receiving server mean "slow down", and what to do about it
 * on the egress path (source address x destination site) that got them.
 * One rule per line: NAME CODE STATUS TEXT ACTION [for DURATION]; the
 * first rule that matches a reply decides (file order), like a firewall.
 * A loaded set is immutable: a reload builds a new one and struct conf,
 * reference counted, owns it, so threads may match without locks.
 * STANDARDS: RFC 5321 4.2 (reply codes), RFC 3463 (enhanced status codes).
 * SECURITY: the file is the administrator's, parsed with bounded lines
 * (FILE:LINE errors); the reply text matched is a remote peer's, so every
 * regular expression runs under PCRE2 match, depth and heap limits.
 *
 * FOR THE DELIVERY ENGINE: on each 4xx or 5xx reply a remote peer sends
 * (greeting, EHLO, MAIL, RCPT, end of DATA), call
 * shape_rules_match_reply(conf->shaping, &reply, &a) with the struct conf
 * the delivery holds. Never for a local failure dressed as a reply
 * (mta_reply_set: connect errors, TLS failures): those are not the peer's
 * words. CONNECTIONS, RATE or SUSPEND: set that limit on the ready queue of
 * (source address, destination site) until now + a.duration, a later match
 * restarting it; the tighter of it and the configured limit applies; log
 * event=shaping with a.rule, a.file:a.line, the action and the reply.
 * IGNORE or NONE: nothing beyond the usual retry.
 */
#ifndef FERRY_SHAPING_SHAPE_RULES_H
#define FERRY_SHAPING_SHAPE_RULES_H

#include <stdbool.h>
#include <stddef.h>

struct mta_reply;

#define SHAPE_FILE_MAX     (1024 * 1024)   /* octets in a rules file */
#define SHAPE_LINE_MAX     1024            /* octets in a line, without its newline */
#define SHAPE_RULES_MAX    1000            /* rules in a file */
#define SHAPE_NAME_MAX     64              /* octets in a rule's name */
#define SHAPE_DURATION_MAX (7 * 86400)     /* seconds */

enum shape_kind {
	SHAPE_NONE,          /* no rule matched */
	SHAPE_CONNECTIONS,   /* at most value connections on the path */
	SHAPE_RATE,          /* at most value messages per minute on the path */
	SHAPE_SUSPEND,       /* no new connection on the path */
	SHAPE_IGNORE,        /* matched, and means no shaping (not a throttle) */
};

/* What a reply asks of its egress path, for duration seconds from now.
 * rule and file point into the rules set: valid while it lives. */
struct shape_action {
	enum shape_kind kind;
	long long       value;      /* CONNECTIONS: connections; RATE: per minute */
	long long       duration;   /* seconds; 0 for IGNORE and NONE */
	const char     *rule;       /* the rule's name, for event=shaping rule=... */
	const char     *file;       /* where it was written */
	int             line;
};

struct shape_rules;

/* Read and compile path. NULL with "FILE:LINE: cause" (or "FILE: cause"
 * when the file cannot be read) in err. */
struct shape_rules *shape_rules_load(const char *path, char *err, size_t errlen);
/* The same from text in memory; name stands for the file in messages. */
struct shape_rules *shape_rules_parse(const char *name, const char *text, size_t len,
    char *err, size_t errlen);
/* The rules shipped as dist/shaping.rules, compiled into the program: what
 * applies when ferry.conf names no shaping_rules file. */
struct shape_rules *shape_rules_default(char *err, size_t errlen);
void shape_rules_free(struct shape_rules *rs);
size_t shape_rules_count(const struct shape_rules *rs);

/* The first rule matching a reply: code (200-599), enhanced status as
 * "4.7.28" or NULL when the reply has none, and the text after both.
 * Fills *out and returns true; false (out->kind SHAPE_NONE) when no rule
 * matches or rs is NULL. A regular expression that hits its limits counts
 * as not matching. Thread-safe. */
bool shape_rules_match(const struct shape_rules *rs, int code, const char *enhanced,
    const char *text, size_t len, struct shape_action *out);
/* The same for a parsed reply, whose text starts with its enhanced status. */
bool shape_rules_match_reply(const struct shape_rules *rs, const struct mta_reply *r,
    struct shape_action *out);

/* "connections", "rate", "suspend", "ignore", "none": for logs. */
const char *shape_kind_name(enum shape_kind k);

#endif
