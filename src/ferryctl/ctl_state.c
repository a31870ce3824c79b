/*
 * ctl_state.c - the machinery of the state commands (tenant, account, key,
 * domain, connector): subcommand lookup, options, opening the database
 * (created on first use, and said so), and shared formatting.
 * SECURITY: run by the administrator. A database ferryctl creates is given
 * to the owner of its directory (ferryd's user owns the spool), so ferryd
 * can open it; SQLite gives its -wal and -shm files the owner of the
 * database when it runs as root.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf/conf.h"
#include "db/db.h"
#include "ferryctl/ctl.h"
#include "ferryctl/ctl_state.h"
#include "state/counters_open.h"
#include "state/state_admin.h"
#include "state/state_cache.h"
#include "util/redis_uri.h"

int
ctl_state_fail(const char *err)
{
	ctl_warn("%s", err);
	return CTL_EXIT_ERR;
}

const char *
ctl_time_text(long long t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		snprintf(buf, size, "%lld", t);
	return buf;
}

static void
ctl_limit_one(char *buf, size_t size, size_t *used, const char *name, long long v)
{
	int n;

	if (*used >= size)
		return;
	n = v > 0 ? snprintf(buf + *used, size - *used, "%s%s=%lld", *used ? " " : "", name, v)
	    : snprintf(buf + *used, size - *used, "%s%s=none", *used ? " " : "", name);
	if (n > 0)
		*used += (size_t)n;
}

const char *
ctl_limits_text(const struct state_limits *l, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	ctl_limit_one(buf, size, &used, "per-minute", l->per_minute);
	ctl_limit_one(buf, size, &used, "per-hour", l->per_hour);
	ctl_limit_one(buf, size, &used, "per-day", l->per_day);
	ctl_limit_one(buf, size, &used, "rcpts", l->rcpts);
	return buf;
}

/* ---- the database --------------------------------------------------------------- */

/* A database just created belongs to the owner of its directory. */
static int
ctl_state_give(const char *path)
{
	char copy[CTL_PATH_MAX];
	struct stat dir, db;

	snprintf(copy, sizeof(copy), "%s", path);
	if (stat(dirname(copy), &dir) != 0 || stat(path, &db) != 0) {
		ctl_warn("%s: %s", path, strerror(errno));
		return -1;
	}
	if ((db.st_uid == dir.st_uid && db.st_gid == dir.st_gid) || geteuid() != 0)
		return 0;
	if (chown(path, dir.st_uid, dir.st_gid) != 0) {
		ctl_warn("%s: cannot give it to uid %u: %s", path, (unsigned)dir.st_uid, strerror(errno));
		return -1;
	}
	return 0;
}

/* A change ferryctl committed: the nodes' state cache in Redis (the
 * counters' server) moves the tenant's generation on, so every node reads
 * the change at its next lookup (src/state/state_cache.h). */
static void
ctl_state_changed(void *arg, long long tenant_id)
{
	const struct conf *k = arg;
	struct redis_uri u;
	char err[256];

	if (state_cache_bump_once(k->counters, tenant_id) == 0)
		return;
	redis_uri_parse(k->counters, &u, err, sizeof(err));
	ctl_warn("warning: the state cache in Redis (%s) could not be told of the change: nodes may"
	    " answer from it for up to %d s", u.shown, STATE_CACHE_TTL);
}

/* The hook ferryd has too, when its configuration uses the cache. */
static void
ctl_state_cache_hook(struct ctl *c, struct state *st)
{
	const struct conf *k = ctl_conf_get(c);

	if (k != NULL && k->state_cache && db_is_pg_uri(k->state_db) && counters_conf_shared(k))
		state_change_hook_set(st, ctl_state_changed, (void *)k);
}

struct state *
ctl_state_open(struct ctl *c, bool create)
{
	char err[1024];
	struct state *st;
	struct stat sb;
	bool fresh;

	if (ctl_state_path(c) < 0)
		return NULL;
	fresh = !db_is_pg_uri(c->state) && stat(c->state, &sb) != 0 && errno == ENOENT;
	if (fresh && !create) {
		ctl_warn("%s: %s", c->state, strerror(ENOENT));
		return NULL;
	}
	if ((st = state_open(c->state, err, sizeof(err))) == NULL) {
		ctl_warn("%s", err);
		return NULL;
	}
	state_key_dir_set(st, ctl_conf_get(c)->dkim_key_dir);
	ctl_state_cache_hook(c, st);
	if (fresh) {
		fprintf(stderr, "ferryctl: note: created the state database %s\n", c->state);
		if (ctl_state_give(c->state) < 0) {
			state_close(st);
			return NULL;
		}
	}
	return st;
}

/* ---- options -------------------------------------------------------------------- */

static int
ctl_group_usage_error(const struct ctl_group *g)
{
	fputs("usage:\n", stderr);
	fputs(g->usage, stderr);
	return CTL_EXIT_USAGE;
}

/* A limit: a whole number >= 0 (0: none). */
static int
ctl_limit_parse(const char *s, long long *out)
{
	char *end;

	errno = 0;
	if (s[0] < '0' || s[0] > '9')
		return -1;
	*out = strtoll(s, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

static const struct option ctl_state_longopts[] = {
	{ "pool",           required_argument, NULL, 'P' },
	{ "bounce-domain",  required_argument, NULL, 'B' },
	{ "reason",         required_argument, NULL, 'R' },
	{ "label",          required_argument, NULL, 'L' },
	{ "domains",        required_argument, NULL, 'D' },
	{ "per-minute",     required_argument, NULL, 'm' },
	{ "per-hour",       required_argument, NULL, 'H' },
	{ "per-day",        required_argument, NULL, 'd' },
	{ "rcpts",          required_argument, NULL, 'r' },
	{ "password-stdin", no_argument,       NULL, 'p' },
	{ "subdomains",     no_argument,       NULL, 'S' },
	{ "weight",         required_argument, NULL, 'W' },
	/* reputation thresholds: values 0x400 + the index in ctl_abuse_opts */
	{ "min-volume",           required_argument, NULL, 0x400 },
	{ "complaint-throttle",   required_argument, NULL, 0x401 },
	{ "complaint-suspend",    required_argument, NULL, 0x402 },
	{ "hard-bounce-throttle", required_argument, NULL, 0x403 },
	{ "unknown-throttle",     required_argument, NULL, 0x404 },
	{ "spike-factor",         required_argument, NULL, 0x405 },
	{ "spike-min",            required_argument, NULL, 0x406 },
	{ "throttle-rate",        required_argument, NULL, 0x407 },
	{ "suppressed",     required_argument, NULL, 'Z' },
	{ "limit",          required_argument, NULL, 'l' },
	{ "expires",        required_argument, NULL, 'E' },
	{ "cause",          required_argument, NULL, 'C' },
	{ "spam-action",    required_argument, NULL, 'A' },
	{ "events",         required_argument, NULL, 'V' },
	{ "unsubscribe",    required_argument, NULL, 'U' },
	{ "json",           no_argument,       NULL, 'j' },
	{ "help",           no_argument,       NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* The option ch's bit (CTL_O_*), or 0 for none. */
static unsigned
ctl_opt_bit(int ch)
{
	switch (ch) {
	case 'P': return CTL_O_POOL;
	case 'B': return CTL_O_BOUNCE;
	case 'R': return CTL_O_REASON;
	case 'L': return CTL_O_LABEL;
	case 'D': return CTL_O_DOMAINS;
	case 'm': case 'H': case 'd': case 'r': return CTL_O_LIMITS;
	case 'p': return CTL_O_PASS;
	case 'S': return CTL_O_SUBDOMAINS;
	case 'W': return CTL_O_WEIGHT;
	case 'A': return CTL_O_SPAM;
	case 'U': return CTL_O_UNSUB;
	case 'Z': return CTL_O_SUPPRESSED;
	case 'l': return CTL_O_LIMIT;
	case 'E': return CTL_O_EXPIRES;
	case 'C': return CTL_O_CAUSE;
	case 'V': return CTL_O_EVENTS;
	case 'j': return CTL_O_JSON;
	default:  return ch >= 0x400 && ch <= 0x407 ? CTL_O_ABUSE : 0;
	}
}

/* A reputation threshold: a percentage for the rates (0x401-0x404), a
 * whole number for the others; "default" goes back to ferry.conf's. */
static int
ctl_abuse_take(struct ctl_sargs *a, int ch, const char *val)
{
	long long *f[] = { &a->abuse.min_volume, &a->abuse.complaint_throttle,
	    &a->abuse.complaint_suspend, &a->abuse.hard_throttle, &a->abuse.unknown_throttle,
	    &a->abuse.spike_factor, &a->abuse.spike_min, &a->abuse.throttle_rate };
	int i = ch - 0x400;
	bool rate = i >= 1 && i <= 4;

	a->abuse_set = true;
	if (strcmp(val, "default") == 0) {
		*f[i] = -2;
		return 0;
	}
	if (rate ? conf_percent_parse(val, f[i]) != 0 : ctl_limit_parse(val, f[i]) != 0) {
		ctl_warn("invalid value %s: %s, or \"default\"", val,
		    rate ? "a percentage such as 0.3% (0: rule off)" : "a whole number");
		return -1;
	}
	if ((i == 0 || i == 7) && *f[i] < 1) {   /* --min-volume, --throttle-rate */
		ctl_warn("invalid value %s: at least 1", val);
		return -1;
	}
	return 0;
}

static int
ctl_opt_take(struct ctl_sargs *a, int ch, const char *val)
{
	long long *lim[] = { &a->limits.per_minute, &a->limits.per_hour, &a->limits.per_day,
	    &a->limits.rcpts };
	const char *which;

	/* before strchr, which would find (char)0x400 == '\0' in "mHdr" */
	if (ch >= 0x400)
		return ctl_abuse_take(a, ch, val);
	if ((which = strchr("mHdr", ch)) != NULL) {
		if (ctl_limit_parse(val, lim[which - "mHdr"]) != 0) {
			ctl_warn("invalid limit %s: a whole number, 0 for none", val);
			return -1;
		}
		a->limits_set = true;
		return 0;
	}
	if (ch == 'W') {
		if (ctl_limit_parse(val, &a->weight) != 0 || a->weight < STATE_WEIGHT_MIN ||
		    a->weight > STATE_WEIGHT_MAX) {
			ctl_warn("invalid weight %s: a whole number from %d to %d", val, STATE_WEIGHT_MIN,
			    STATE_WEIGHT_MAX);
			return -1;
		}
		return 0;
	}
	if (ch == 'l') {
		if (ctl_limit_parse(val, &a->limit) != 0 || a->limit < 1) {
			ctl_warn("invalid limit %s: a whole number, 1 or more", val);
			return -1;
		}
		return 0;
	}
	if (ch == 'A') {
		enum state_spam_action sa;
		if (state_spam_action_parse(val, &sa) != 0) {
			ctl_warn("invalid spam action %s: reject, hold or header", val);
			return -1;
		}
		a->spam_action = (int)sa;
		return 0;
	}
	if (ch == 'U') {
		if (strcmp(val, "on") != 0 && strcmp(val, "off") != 0) {
			ctl_warn("invalid --unsubscribe %s: on or off", val);
			return -1;
		}
		a->unsubscribe = strcmp(val, "on") == 0;
		return 0;
	}
	switch (ch) {
	case 'Z': a->suppressed = val; break;
	case 'E': a->expires = val; break;
	case 'C': a->cause = val; break;
	case 'V': a->events = val; break;
	case 'P': a->pool = val; break;
	case 'B': a->bounce = val; break;
	case 'R': a->reason = val; break;
	case 'L': a->label = val; break;
	case 'D': a->domains = val; break;
	case 'p': a->pass_stdin = true; break;
	case 'j': a->json = true; break;
	default:  a->subdomains = true; break;
	}
	return 0;
}

/* 0 parsed, 1 help printed, else an exit code. */
static int
ctl_sub_parse(const struct ctl_group *g, const struct ctl_sub *s, int argc, char **argv,
    struct ctl_sargs *a)
{
	int ch;

	optind = 0;   /* glibc: start over on this argv */
	while ((ch = getopt_long(argc, argv, ":h", ctl_state_longopts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(g->usage, stdout);
			return 1;
		}
		if (ch == ':' || ch == '?') {
			ctl_opt_warn(ch, argv);
			return ctl_group_usage_error(g);
		}
		if ((ctl_opt_bit(ch) & s->opts) == 0) {
			ctl_warn("%s %s does not take %s", g->name, s->name, argv[optind - 1]);
			return ctl_group_usage_error(g);
		}
		if (ctl_opt_take(a, ch, optarg) != 0)
			return CTL_EXIT_USAGE;
	}
	a->narg = argc - optind;
	if (a->narg < s->minarg || a->narg > s->maxarg) {
		ctl_warn("%s %s: wrong number of operands", g->name, s->name);
		return ctl_group_usage_error(g);
	}
	for (int i = 0; i < a->narg; i++)
		a->arg[i] = argv[optind + i];
	return 0;
}

int
ctl_group_main(struct ctl *c, const struct ctl_group *g, int argc, char **argv)
{
	struct ctl_sargs a = { .limits = STATE_LIMITS_KEEP, .weight = -1, .abuse = REP_OVERRIDE_KEEP,
	    .limit = -1, .spam_action = -1, .unsubscribe = -1 };
	const struct ctl_sub *s = NULL;
	struct state *st = NULL;
	int rc;

	if (argc < 2) {
		ctl_warn("%s needs a subcommand", g->name);
		return ctl_group_usage_error(g);
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(g->usage, stdout);
		return CTL_EXIT_OK;
	}
	for (size_t i = 0; i < g->nsubs; i++)
		if (strcmp(g->subs[i].name, argv[1]) == 0)
			s = &g->subs[i];
	if (s == NULL) {
		ctl_warn("unknown subcommand %s %s", g->name, argv[1]);
		return ctl_group_usage_error(g);
	}
	if ((rc = ctl_sub_parse(g, s, argc - 1, argv + 1, &a)) != 0)
		return rc == 1 ? CTL_EXIT_OK : rc;
	if (!s->nodb && (st = ctl_state_open(c, true)) == NULL)
		return CTL_EXIT_ERR;
	rc = s->run(c, st, &a);
	state_close(st);
	if (fflush(stdout) != 0 && rc == CTL_EXIT_OK)
		rc = CTL_EXIT_ERR;
	return rc;
}
