/*
 * conf_option.c - every keyword of ferry.conf in one table, as Redis's
 * config.c has it: a row gives the option's type, the struct conf field it
 * sets and its limits (minimum, maximum, default; or the words it accepts),
 * so values are checked in one place and documented in one place
 * (docs/configuration.md). Options that may appear once are refused when
 * set twice, whatever their type; repeatable lines have their own parser.
 * SECURITY: values are the administrator's; each is still checked against
 * its row before it reaches struct conf.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf_internal.h"
#include "util/redis_uri.h"
#include "util/xmalloc.h"

enum conf_type {
	CONF_INT,      /* a whole number in [min, max] */
	CONF_SIZE,     /* bytes; suffix k, m or g */
	CONF_TIME,     /* seconds; suffix s, m, h or d */
	CONF_PERCENT,  /* "0.3%" (the % optional), stored in parts per million */
	CONF_STRING,   /* one word; ->valid, when set, must accept it */
	CONF_PATH,     /* a file or directory name, taken as written */
	CONF_CHOICE,   /* one of ->words, stored as its value in an int or enum */
	CONF_BOOL,     /* one of ->words, stored as its value in a bool */
	CONF_LINE,     /* repeatable: ->add parses the whole line */
};

struct conf_option {
	const char             *name;
	enum conf_type          type;
	size_t                  off;                      /* of the field in struct conf */
	long long               min, max, def;            /* numbers; CHOICE, BOOL: def */
	const struct conf_word *words;                    /* CHOICE, BOOL: NULL-terminated */
	bool                  (*valid)(const char *);     /* STRING; NULL: any word */
	const char             *what;                     /* STRING: what valid() wants */
	bool                    secret;                   /* STRING: may hold a password, never echoed */
	/* PATH: a file that must load now; 0, or -1 with the cause in err. It
	 * may keep what it loaded in c (freed by conf_free). */
	int                   (*load)(struct conf *c, const char *path, char *err, size_t errlen);
	int                   (*add)(struct conf_parse *, char **, int);   /* LINE */
};

/* The field's offset, refused at compile time when its type is not T. */
#define CONF_OFF(f, T) _Generic(((struct conf *)0)->f, T: offsetof(struct conf, f))
/* An enum field: stored through an int, so it must be int-sized. */
#define CONF_OFF_ENUM(f) (offsetof(struct conf, f) + \
	0 * sizeof(char[sizeof(((struct conf *)0)->f) == sizeof(int) ? 1 : -1]))

#define OPT_NUM(n, t, mn, mx, df) \
	{ .name = #n, .type = t, .off = CONF_OFF(n, long long), .min = mn, .max = mx, .def = df }
#define OPT_INT(n, mn, mx, df)  OPT_NUM(n, CONF_INT, mn, mx, df)
#define OPT_SIZE(n, mn, mx, df) OPT_NUM(n, CONF_SIZE, mn, mx, df)
#define OPT_TIME(n, mn, mx, df) OPT_NUM(n, CONF_TIME, mn, mx, df)
#define OPT_PERCENT(n, mn, mx, df) OPT_NUM(n, CONF_PERCENT, mn, mx, df)   /* ppm */
#define OPT_STR(n, f, ok, w) \
	{ .name = #n, .type = CONF_STRING, .off = CONF_OFF(f, char *), .valid = ok, .what = w }
#define OPT_PATH(n)         { .name = #n, .type = CONF_PATH, .off = CONF_OFF(n, char *) }
#define OPT_FILE(n, fn)     { .name = #n, .type = CONF_PATH, .off = CONF_OFF(n, char *), .load = fn }
#define OPT_LOAD(n, f, fn)  { .name = #n, .type = CONF_PATH, .off = CONF_OFF(f, char *), .load = fn }
#define OPT_WORDS(n, f, df, w) \
	{ .name = #n, .type = CONF_CHOICE, .off = CONF_OFF_ENUM(f), .def = df, .words = w }
#define OPT_CHOICE(n, f, df, ...) \
	OPT_WORDS(n, f, df, ((const struct conf_word[]){ __VA_ARGS__, { NULL, 0 } }))
#define OPT_BOOL(n, f, yes, no, df) { .name = #n, .type = CONF_BOOL, .off = CONF_OFF(f, bool), \
	.def = df, .words = (const struct conf_word[]){ { yes, 1 }, { no, 0 }, { NULL, 0 } } }
#define OPT_LINE(n, fn)     { .name = #n, .type = CONF_LINE, .add = fn }

/* 1-64 letters, digits, '-', '_' or '.': one word in a log line or an
 * address. A node's name (node_name) is one: it goes into log lines,
 * events and the nodes table. */
static bool
conf_word_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

/* Not a return-path token's "b+", nothing that needs quoting. */
static bool
conf_complaint_local_valid(const char *s)
{
	size_t n = strlen(s);

	if (!conf_word_valid(s) || ((s[0] == 'b' || s[0] == 'B') && s[1] == '+'))
		return false;
	return s[0] != '.' && s[n - 1] != '.';
}

/* http:// or https://, a host, no space, quote or trailing slash: links
 * are this plus a path. */
static bool
conf_public_url_valid(const char *s)
{
	size_t n = strlen(s), skip = strncmp(s, "https://", 8) == 0 ? 8 :
	    strncmp(s, "http://", 7) == 0 ? 7 : 0;

	if (skip == 0 || n <= skip || n > 200 || s[n - 1] == '/')
		return false;
	for (size_t i = skip; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f || strchr("\"'<>\\?#", s[i]))
			return false;
	return true;
}

/* "local", or a redis:// URI (util/redis_uri.h). */
static bool
conf_counters_valid(const char *s)
{
	return strcmp(s, "local") == 0 || redis_uri_valid(s);
}

static bool
conf_log_level_valid(const char *s)
{
	return strcmp(s, "info") == 0 || strcmp(s, "debug") == 0;
}

/*
 * ADDING AN OPTION is one row here plus its field in struct conf (conf.h),
 * and its entry in docs/configuration.md:
 *   a number           OPT_INT(name, min, max, default)      field long long
 *   bytes, seconds     OPT_SIZE(...), OPT_TIME(...)           field long long
 *   a percentage       OPT_PERCENT(name, min, max, default)  field long long, in ppm
 *   a file, directory  OPT_PATH(name)                         field char *, NULL when unset
 *   a file to load now OPT_FILE(name, loader)                 loader(c, path, err, errlen): 0 or -1
 *                      OPT_LOAD(name, field, loader): the same, the path in another field
 *   any other word     OPT_STR(name, field, check, "what")   check NULL: any word
 *   two words          OPT_BOOL(name, field, "yes", "no", default)    field bool
 *   a word from a set  OPT_CHOICE(name, field, default, { "text", CONF_LOG_TEXT }, ...)
 *                      field an enum (or int); a set shared with other
 *                      rows: OPT_WORDS(name, field, default, words)
 *   a repeatable line  OPT_LINE(name, parser)                 parser in conf_addr.c & co.
 * The words of smtp_tls, shared with a route's tls=, are conf_tls_words
 * (conf_route.c): a new word there is one row of that list.
 * A default that depends on other options (paths under spool_dir) is
 * filled by conf_finish in conf.c.
 */
static const struct conf_option conf_options[] = {
	/* Identity, files, logging */
	OPT_STR(hostname, hostname, NULL, NULL),
	OPT_STR(user, run_user, NULL, NULL),
	OPT_PATH(spool_dir),
	OPT_PATH(users_file),
	OPT_PATH(state_db),
	OPT_STR(node_name, node_name, conf_word_valid,
	    "1-64 letters, digits, '-', '_' or '.'"),
	OPT_PATH(dkim_key_dir),
	OPT_PATH(tls_cert),
	OPT_PATH(tls_key),
	OPT_PATH(log_file),
	OPT_STR(log_level, log_level, conf_log_level_valid, "info or debug"),
	OPT_BOOL(log_format, log_json, "json", "text", false),
	OPT_BOOL(log_syslog, log_syslog, "yes", "no", false),
	OPT_PATH(maildir_root),
	OPT_PATH(control_socket),
	OPT_PATH(submit_socket),
	OPT_STR(postmaster, postmaster, conf_address_valid, "an address (local@domain)"),
	/* complaints (ARF) for a tenant reach LOCAL@<its bounce domain> */
	OPT_STR(complaint_local_part, complaint_local_part, conf_complaint_local_valid,
	    "a local part of letters, digits, '-', '_' or '.' (not b+...)"),

	/* Receiving */
	OPT_LINE(listen, conf_listen_add),
	OPT_LINE(domain, conf_domain_add),
	OPT_LINE(mailbox, conf_mailbox_add),
	OPT_LINE(alias, conf_alias_add),
	OPT_LINE(relay_networks, conf_relay_nets_add),
	OPT_LINE(milter, conf_milter_add),
	OPT_LINE(tenant_milters, conf_tenant_milters_add),
	OPT_INT(workers,                    0, 256, 0),            /* 0: one per core */
	/* the spool's content record has a 32-bit length */
	OPT_SIZE(max_message_size,          1024, 1LL << 31, 36700160),
	OPT_INT(max_recipients,             100, 100000, 1000),
	OPT_SIZE(max_line_length,           1000, 1000000, 1000),
	OPT_INT(max_connections,            1, 1000000, 20000),
	OPT_INT(max_connections_per_client, 1, 1000000, 50),
	OPT_INT(listen_backlog,             0, 1000000, 0),        /* 0: net.core.somaxconn */
	OPT_INT(max_errors,                 1, 1000, 20),
	OPT_INT(junk_command_limit,         1, 100000, 100),
	OPT_INT(auth_max_failures,          1, 100, 3),
	OPT_TIME(timeout_command,           1, 86400, 300),
	OPT_TIME(timeout_data,              1, 86400, 180),
	/* DATA/BDAT deadline credit per octet received (smtp_timeout.c); 0:
	 * timeout_data bounds the whole transfer */
	OPT_SIZE(data_min_rate,             0, 1LL << 30, 500),
	/* refuse MAIL (452 4.3.1) below this much free spool space */
	OPT_SIZE(queue_minfree,             0, 1LL << 50, 104857600),
	OPT_TIME(timeout_shutdown,          0, 86400, 30),
	OPT_BOOL(bare_lf, reject_bare_lf, "reject", "normalize", false),
	OPT_BOOL(spool_sync, spool_syncfs, "syncfs", "fsync", true),

	/* Delivery */
	OPT_BOOL(delivery, delivery_on, "on", "off", true),
	/* worker threads for the outbound loop's blocking work (spool, SQLite, DKIM) */
	OPT_INT(delivery_threads,           1, 1000, 20),
	/* messages in delivery at once (each a coroutine of the outbound loop) */
	OPT_INT(delivery_max_inflight,      1, 100000, 20000),
	OPT_BOOL(outbound_ipv6, outbound_ipv6, "yes", "no", true),
	OPT_TIME(retry_min,                 1, 86400, 300),
	OPT_TIME(retry_max,                 1, 7 * 86400, 3600),
	OPT_TIME(max_queue_lifetime,        0, 365 * 86400, 5 * 86400),
	OPT_TIME(delay_warning,             0, 365 * 86400, 4 * 3600),
	OPT_INT(smtp_port,                  1, 65535, 25),
	OPT_INT(destination_concurrency,    1, 10000, 20),
	OPT_INT(destination_msgs_per_conn,  1, 1000000, 100),
	OPT_INT(destination_rate,           0, 10000000, 0),
	OPT_TIME(dns_timeout,               1, 300, 10),
	OPT_TIME(connect_timeout,           1, 300, 30),
	OPT_TIME(smtp_timeout,              1, 3600, 300),
	OPT_STR(dns_servers, dns_servers, NULL, NULL),
	OPT_STR(outbound_source, outbound_source, conf_ip_valid, "an IPv4 or IPv6 address"),
	OPT_WORDS(smtp_tls, smtp_tls, CONF_TLS_MAY, conf_tls_words),
	OPT_FILE(tls_ca_file, conf_ca_file_load),
	OPT_FILE(shaping_rules, conf_shaping_load),
	/* the name is kept for the loaded set (conf->bounce_rules) */
	OPT_LOAD(bounce_rules, bounce_rules_file, conf_bounce_load),
	OPT_LINE(route, conf_route_add),
	OPT_LINE(dkim_sign, conf_dkim_add),
	OPT_LINE(pool, conf_pool_add),
	OPT_LINE(pool_address, conf_pool_address_add),
	OPT_LINE(provider, conf_provider_add),

	/* Reputation and enforcement (src/reputation/; rates in ppm: 3000 = 0.3%) */
	OPT_TIME(abuse_window,              3600, 7 * 86400, 86400),
	OPT_INT(abuse_min_volume,           1, 1000000000, 500),
	OPT_PERCENT(abuse_complaint_throttle,   0, 1000000, 3000),
	OPT_PERCENT(abuse_complaint_suspend,    0, 1000000, 10000),
	OPT_PERCENT(abuse_hard_bounce_throttle, 0, 1000000, 100000),
	OPT_PERCENT(abuse_unknown_throttle,     0, 1000000, 50000),
	OPT_INT(abuse_spike_factor,         0, 1000000, 10),        /* 0: no spike rule */
	OPT_INT(abuse_spike_min,            0, 1000000000, 1000),
	OPT_INT(abuse_throttle_rate,        1, 1000000000, 100),    /* recipients per hour */
	/* Suppression lists: soft bounces that suppress a tenant's recipient */
	OPT_INT(suppress_soft_threshold,    1, 1000, 3),
	OPT_TIME(suppress_soft_window,      60, 365 * 86400, 7 * 86400),
	OPT_TIME(suppress_soft_expiry,      0, 3650 * 86400, 30 * 86400),   /* 0: never expires */

	/* The HTTP API and dashboard (src/http/; "listen http|https" above) */
	OPT_INT(http_threads,               1, 64, 4),
	OPT_SIZE(http_max_body,             1024, 1LL << 31, 37748736),   /* 36 MiB */
	OPT_PATH(http_admin_token_file),
	OPT_PATH(http_www_dir),
	OPT_STR(http_public_url, http_public_url, conf_public_url_valid,
	    "an http:// or https:// URL without a trailing slash"),
	/* Webhooks (src/webhook/) */
	OPT_INT(webhook_batch_max,          1, 1000, 100),
	OPT_TIME(webhook_timeout,           1, 300, 10),
	OPT_TIME(webhook_retry_min,         1, 3600, 30),
	OPT_TIME(webhook_retry_limit,       1, 30 * 86400, 86400),
	OPT_INT(webhook_concurrency,        1, 1000, 16),

	/* Shared counters (src/state/counters_open.c): local or redis://... */
	{ .name = "counters", .type = CONF_STRING, .off = CONF_OFF(counters, char *), .secret = true,
	  .valid = conf_counters_valid, .what = "local or redis://[[user]:password@]host[:port][/db]" },
	OPT_BOOL(counters_failure, counters_fail_open, "open", "closed", false),
	/* The state cache in the counters' Redis (src/state/state_cache.c) */
	OPT_BOOL(state_cache, state_cache, "on", "off", true),
};

#define CONF_NOPTIONS (sizeof(conf_options) / sizeof(conf_options[0]))
_Static_assert(CONF_NOPTIONS <= CONF_OPTIONS_MAX, "raise CONF_OPTIONS_MAX in conf_internal.h");

static void *
conf_field(struct conf *c, const struct conf_option *o)
{
	return (char *)c + o->off;
}

/* Parse "10", "10k", "35m", "1g" (sizes) or "30", "30s", "5m", "1h", "1d". */
static int
conf_number_parse(const char *s, enum conf_type type, long long *out)
{
	char *end;
	long long v, mul = 1;

	errno = 0;
	if (!isdigit((unsigned char)s[0]))
		return -1;
	v = strtoll(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end != '\0') {
		char u = (char)tolower((unsigned char)*end);
		if (end[1] != '\0')
			return -1;
		if (type == CONF_SIZE && u == 'k') mul = 1024;
		else if (type == CONF_SIZE && u == 'm') mul = 1024 * 1024;
		else if (type == CONF_SIZE && u == 'g') mul = 1024LL * 1024 * 1024;
		else if (type == CONF_TIME && u == 's') mul = 1;
		else if (type == CONF_TIME && u == 'm') mul = 60;
		else if (type == CONF_TIME && u == 'h') mul = 3600;
		else if (type == CONF_TIME && u == 'd') mul = 86400;
		else return -1;
	}
	if (v > (1LL << 50) / mul)
		return -1;
	*out = v * mul;
	return 0;
}

int
conf_percent_parse(const char *s, long long *ppm)
{
	long long whole = 0, frac = 0, scale = 10000;   /* ppm per percent */
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		whole = whole * 10 + (*p - '0');
		if (whole > 100)
			return -1;
	}
	if (*p == '.') {
		if (!isdigit((unsigned char)*++p))
			return -1;
		/* four decimals of a percent are a whole ppm; more is refused */
		for (; isdigit((unsigned char)*p); p++) {
			if (scale == 1)
				return -1;
			scale /= 10;
			frac += (*p - '0') * scale;
		}
	}
	if (*p == '%')
		p++;
	if (*p != '\0' || whole * 10000 + frac > 1000000)
		return -1;
	*ppm = whole * 10000 + frac;
	return 0;
}

static int
conf_number_set(struct conf_parse *p, const struct conf_option *o, const char *s)
{
	long long v;

	if (o->type == CONF_PERCENT) {
		if (conf_percent_parse(s, &v) < 0)
			return conf_fail(p, "%s: '%s' is not a percentage (such as 0.3%% or 10%%)",
			    o->name, s);
	} else if (conf_number_parse(s, o->type, &v) < 0)
		return conf_fail(p, "%s: '%s' is not a number%s", o->name, s,
		    o->type == CONF_SIZE ? " (suffix k, m or g allowed)" :
		    o->type == CONF_TIME ? " (suffix s, m, h or d allowed)" : "");
	if (v < o->min || v > o->max)
		return conf_fail(p, "%s: %lld is out of range [%lld, %lld]", o->name, v, o->min, o->max);
	*(long long *)conf_field(p->c, o) = v;
	return 0;
}

const char *
conf_words_text(const struct conf_word *w, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; w[i].word != NULL && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%s", i == 0 ? "" :
		    w[i + 1].word == NULL ? " or " : ", ", w[i].word);
	return buf;
}

static int
conf_word_set(struct conf_parse *p, const struct conf_option *o, const char *s)
{
	char words[256];

	for (const struct conf_word *w = o->words; w->word != NULL; w++) {
		if (strcmp(w->word, s) != 0)
			continue;
		if (o->type == CONF_BOOL)
			*(bool *)conf_field(p->c, o) = w->value != 0;
		else
			*(int *)conf_field(p->c, o) = w->value;
		return 0;
	}
	return conf_fail(p, "%s: '%s' is not %s", o->name, s,
	    conf_words_text(o->words, words, sizeof(words)));
}

static int
conf_string_set(struct conf_parse *p, const struct conf_option *o, const char *s)
{
	char **dst = conf_field(p->c, o), err[512];

	if (o->valid != NULL && !o->valid(s))
		return conf_fail(p, "%s: '%s' is not %s", o->name, o->secret ? "(value not shown)" : s, o->what);
	if (o->load != NULL && !p->no_files && o->load(p->c, s, err, sizeof(err)) < 0)
		return conf_fail(p, "%s: %s", o->name, err);
	free(*dst);
	*dst = xstrdup(s);
	return 0;
}

/* An option that takes one value, set once. */
static int
conf_single_set(struct conf_parse *p, size_t i, char **argv, int argc)
{
	const struct conf_option *o = &conf_options[i];
	char words[256];

	if (argc != 2 && o->words != NULL)
		return conf_fail(p, "%s takes one value (%s)", o->name,
		    conf_words_text(o->words, words, sizeof(words)));
	if (argc != 2)
		return conf_fail(p, "%s takes one value", o->name);
	if (p->seen[i] != 0)
		return conf_fail(p, "%s is set twice (first on line %d)", o->name, p->seen[i]);
	p->seen[i] = p->line;
	switch (o->type) {
	case CONF_INT: case CONF_SIZE: case CONF_TIME: case CONF_PERCENT:
		return conf_number_set(p, o, argv[1]);
	case CONF_CHOICE: case CONF_BOOL:
		return conf_word_set(p, o, argv[1]);
	case CONF_STRING: case CONF_PATH:
		return conf_string_set(p, o, argv[1]);
	case CONF_LINE:
		break;
	}
	return conf_fail(p, "%s: not a single-valued option", o->name);
}

int
conf_keys_unique(struct conf_parse *p, char **argv, int argc, int first)
{
	for (int i = first; i < argc; i++) {
		size_t n = strcspn(argv[i], "=");
		if (argv[i][n] != '=')
			continue;
		for (int j = first; j < i; j++)
			if (strncmp(argv[i], argv[j], n + 1) == 0)
				return conf_fail(p, "%s: %.*s= is given twice", argv[0], (int)n, argv[i]);
	}
	return 0;
}

int
conf_option_apply(struct conf_parse *p, char **argv, int argc)
{
	for (size_t i = 0; i < CONF_NOPTIONS; i++) {
		if (strcmp(argv[0], conf_options[i].name) != 0)
			continue;
		if (conf_options[i].type == CONF_LINE)
			return conf_options[i].add(p, argv, argc);
		return conf_single_set(p, i, argv, argc);
	}
	return conf_fail(p, "unknown option '%s'", argv[0]);
}

void
conf_options_default(struct conf *c)
{
	for (size_t i = 0; i < CONF_NOPTIONS; i++) {
		const struct conf_option *o = &conf_options[i];
		switch (o->type) {
		case CONF_INT: case CONF_SIZE: case CONF_TIME: case CONF_PERCENT:
			*(long long *)conf_field(c, o) = o->def;
			break;
		case CONF_CHOICE:
			*(int *)conf_field(c, o) = (int)o->def;
			break;
		case CONF_BOOL:
			*(bool *)conf_field(c, o) = o->def != 0;
			break;
		case CONF_STRING: case CONF_PATH: case CONF_LINE:
			break;   /* NULL or empty; conf_finish fills derived paths */
		}
	}
}

int
conf_option_line(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < CONF_NOPTIONS; i++)
		if (strcmp(conf_options[i].name, name) == 0)
			return c->option_lines[i];
	return 0;
}
