/*
 * ctl_state.h - what the commands editing the relay service's state
 * (tenant, account, key, domain, connector) share: one table of
 * subcommands per command, one option parser, the database opened once.
 */
#ifndef FERRY_CTL_STATE_H
#define FERRY_CTL_STATE_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf.h"
#include "ferryctl/ctl.h"
#include "reputation/rep.h"
#include "state/state.h"

/* Options a subcommand accepts (ctl_sub.opts). */
#define CTL_O_POOL       0x01u   /* --pool P */
#define CTL_O_BOUNCE     0x02u   /* --bounce-domain D */
#define CTL_O_REASON     0x04u   /* --reason TEXT */
#define CTL_O_LIMITS     0x08u   /* --per-minute/--per-hour/--per-day/--rcpts N */
#define CTL_O_PASS       0x10u   /* --password-stdin */
#define CTL_O_LABEL      0x20u   /* --label TEXT */
#define CTL_O_SUBDOMAINS 0x40u   /* --subdomains */
#define CTL_O_DOMAINS    0x80u   /* --domains a,b */
#define CTL_O_WEIGHT     0x100u  /* --weight N */
#define CTL_O_ABUSE      0x200u  /* --complaint-throttle P ... (reputation thresholds) */
#define CTL_O_SUPPRESSED 0x400u  /* --suppressed reject|drop */
#define CTL_O_LIMIT      0x800u  /* --limit N */
#define CTL_O_EXPIRES    0x1000u /* --expires DURATION */
#define CTL_O_CAUSE      0x2000u /* --cause TEXT */
#define CTL_O_SPAM       0x4000u /* --spam-action reject|hold|header */
#define CTL_O_EVENTS     0x8000u /* --events a,b (webhook kinds) */
#define CTL_O_UNSUB      0x10000u /* --unsubscribe on|off */
#define CTL_O_JSON       0x20000u /* --json */

#define CTL_SUB_ARGS_MAX 3

struct ctl_sargs {
	const char *arg[CTL_SUB_ARGS_MAX];
	int         narg;
	const char *pool, *bounce, *reason, *label, *domains;   /* NULL: not given */
	bool        pass_stdin, subdomains, limits_set;
	struct state_limits limits;     /* fields not given: -1 */
	long long   weight;             /* --weight; -1: not given */
	struct rep_override abuse;      /* -1 not given, -2 "default" (the global value) */
	bool        abuse_set;
	const char *suppressed, *expires, *cause;   /* NULL: not given */
	const char *events;             /* --events; NULL: not given */
	long long   limit;              /* --limit; -1: not given */
	int         spam_action;        /* --spam-action (enum state_spam_action); -1: not given */
	int         unsubscribe;        /* --unsubscribe: 1 on, 0 off, -1 not given */
	bool        json;               /* --json */
};

struct ctl_sub {
	const char *name;
	int         minarg, maxarg;
	unsigned    opts;
	bool        nodb;               /* run gets st == NULL */
	int       (*run)(struct ctl *c, struct state *st, const struct ctl_sargs *a);
};

struct ctl_group {
	const char           *name;     /* "tenant" */
	const char           *usage;
	const struct ctl_sub *subs;
	size_t                nsubs;
};

/* Parse argv (argv[0] the command, argv[1] the subcommand), open the
 * state database and run the subcommand. Returns the exit code. */
int ctl_group_main(struct ctl *c, const struct ctl_group *g, int argc, char **argv);

/* The state database of c's configuration, opened (and its schema brought
 * up to date, as by ferryd); a SQLite file that does not exist yet is
 * created (and said so) when create is set, else refused. NULL after a
 * message. */
struct state *ctl_state_open(struct ctl *c, bool create);

/* "per-minute=100 per-hour=none ..." into buf. */
const char *ctl_limits_text(const struct state_limits *l, char *buf, size_t size);
/* A Unix time as "2026-01-31 12:00 UTC" (in buf). */
const char *ctl_time_text(long long t, char *buf, size_t size);
/* Report err; returns CTL_EXIT_ERR. */
int ctl_state_fail(const char *err);

/* ctl_suppression.c: the tenant's suppression mode and list size, for
 * `tenant show`. */
void ctl_suppression_show(struct state *st, long long tenant_id, const char *name);

/* ctl_tenant_show.c: `tenant show NAME`. */
int ctl_tenant_show(struct ctl *c, struct state *st, const struct ctl_sargs *a);
/* ctl_domain_dns.c: `domain dns DOMAIN`. */
int ctl_domain_dns(struct ctl *c, struct state *st, const struct ctl_sargs *a);

#endif
