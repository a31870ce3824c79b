/*
 * conf_internal.h - shared by the files of src/conf/ while parsing:
 *   conf_file.c    the reader: bounded lines, words, FILE:LINE messages
 *   conf_option.c  the option table (every keyword, its type and limits)
 *   conf_addr.c    listeners, hosted domains, mailboxes, aliases, relay networks
 *   conf_route.c   routes, TLS words, DKIM signing keys
 *   conf_pool.c    IP pools and provider limits
 *   conf_milter.c  content filters (milter, tenant_milters, listen ... milters=)
 *   conf_check.c   checks across lines, once the whole file is read
 *   conf_shaping.c the shaping rules file (shaping_rules), or the embedded one
 *   conf_bounce.c  the bounce classification rules (bounce_rules), or the embedded ones
 *   conf.c         load, defaults, free, lookups
 */
#ifndef FERRY_CONF_INTERNAL_H
#define FERRY_CONF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf.h"

#define CONF_LINE_MAX    4096   /* bytes in a line, without its newline */
#define CONF_ARGS_MAX    64     /* words in a line, the option's name included */
#define CONF_OPTIONS_MAX 128    /* rows of the option table (checked there) */

/* A word an option accepts, and the value it stores. */
struct conf_word {
	const char *word;
	int         value;
};

/* The state of one parse; lives only while conf_load runs. */
struct conf_parse {
	struct conf *c;
	const char  *file;
	int          line;                       /* of the line being applied */
	char        *err;
	size_t       errlen;
	int         *seen;                       /* c->option_lines */
	int         *mailbox_lines;              /* line of each c->mailboxes[i], file order */
	int         *alias_lines;                /* line of each c->aliases[i], file order */
	bool         no_files;                   /* CONF_LOAD_NO_FILES: name files, open none */
};

/* Write "FILE:LINE: message" to p->err; returns -1. */
int conf_fail(struct conf_parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same at another line (a check made after the whole file was read). */
int conf_fail_at(struct conf_parse *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* conf_file.c: read p->file, giving each line that has words to
 * conf_option_apply. 0, or -1 with "FILE: cause" or "FILE:LINE: cause". */
int  conf_file_read(struct conf_parse *p);

/* conf_option.c: one line's words (argv[0] the option's name). */
/* Refuse a line whose KEY=value words (from argv[first]) repeat a KEY. */
int  conf_keys_unique(struct conf_parse *p, char **argv, int argc, int first);
/* "a, b or c", for messages. */
const char *conf_words_text(const struct conf_word *w, char *buf, size_t size);
int  conf_option_apply(struct conf_parse *p, char **argv, int argc);
/* Every table row's default into c. */
void conf_options_default(struct conf *c);

/* conf_addr.c: the repeatable lines, and the validators others share. */
int  conf_listen_add(struct conf_parse *p, char **argv, int argc);
int  conf_domain_add(struct conf_parse *p, char **argv, int argc);
int  conf_mailbox_add(struct conf_parse *p, char **argv, int argc);
int  conf_alias_add(struct conf_parse *p, char **argv, int argc);
int  conf_relay_nets_add(struct conf_parse *p, char **argv, int argc);
bool conf_domain_valid(const char *d);
bool conf_address_valid(const char *a);
bool conf_ip_valid(const char *s);
void conf_lower(char *s);

/* conf_route.c */
int  conf_route_add(struct conf_parse *p, char **argv, int argc);
int  conf_dkim_add(struct conf_parse *p, char **argv, int argc);
int  conf_ca_file_load(struct conf *c, const char *path, char *err, size_t errlen);
/* none, may, require: for smtp_tls and a route's tls= (NULL-terminated). */
extern const struct conf_word conf_tls_words[];

/* conf_pool.c: "pool", "pool_address", "provider" lines. */
int  conf_pool_add(struct conf_parse *p, char **argv, int argc);
int  conf_pool_address_add(struct conf_parse *p, char **argv, int argc);
int  conf_provider_add(struct conf_parse *p, char **argv, int argc);
void conf_pools_free(struct conf *c);

/* conf_shaping.c: load shaping_rules FILE (or "none") into c->shaping;
 * conf_shaping_finish gives a configuration without it the embedded rules. */
int  conf_shaping_load(struct conf *c, const char *path, char *err, size_t errlen);
void conf_shaping_finish(struct conf *c);

/* conf_bounce.c: load bounce_rules FILE (or "none") into c->bounce_rules;
 * conf_bounce_finish gives a configuration without it the embedded rules;
 * conf_bounce_free frees both fields. */
int  conf_bounce_load(struct conf *c, const char *path, char *err, size_t errlen);
void conf_bounce_finish(struct conf *c);
void conf_bounce_free(struct conf *c);
/* conf_milter.c: "milter", "tenant_milters" lines; a listener's milters=. */
int  conf_milter_add(struct conf_parse *p, char **argv, int argc);
int  conf_tenant_milters_add(struct conf_parse *p, char **argv, int argc);
int  conf_milter_names_parse(struct conf_parse *p, const char *what, const char *list, char ***names,
    size_t *n);
/* Names to filters, once the whole file is read (conf_lines_check). */
int  conf_milters_check(struct conf_parse *p);
void conf_milters_free(struct conf *c);

/* conf_check.c: what one line cannot decide (mailboxes whose domain comes
 * later, tls_cert without tls_key), reported at the line concerned. Runs
 * before conf_load sorts the tables; sorts c->domains itself. */
int  conf_lines_check(struct conf_parse *p);

/* conf.c */
int  conf_strcmp(const void *a, const void *b);

#endif
