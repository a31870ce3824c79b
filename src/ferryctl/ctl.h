/*
 * ctl.h - what ferryctl's command files share: the global options, exit
 * codes, and the helpers for messages, the users file, ferryd's control
 * socket and passwords. ferryctl uses src/auth/ (users) and src/conf/ (to
 * read ferry.conf exactly as ferryd does).
 */
#ifndef FERRY_CTL_H
#define FERRY_CTL_H

#include <stdbool.h>
#include <stddef.h>

#define CTL_EXIT_OK    0
#define CTL_EXIT_ERR   1
#define CTL_EXIT_USAGE 2

#define CTL_PATH_MAX 4096

struct conf;

struct ctl {
	const char *config;             /* -c CONFIG, or NULL */
	const char *users_opt;          /* -u FILE, or NULL */
	char        users[CTL_PATH_MAX]; /* resolved by ctl_users_path() */
	const char *socket_opt;         /* -s SOCKET, or NULL */
	char        control[CTL_PATH_MAX]; /* resolved by ctl_control_path() */
	char        state[CTL_PATH_MAX];   /* the state database: ctl_state_path() */
	struct conf *conf;              /* loaded once by ctl_conf_get() */
};

/* A top-level command: argv[0] is the command's own name. Returns an exit
 * code. usage is printed under "commands:" by `ferryctl --help`. */
struct ctl_cmd {
	const char *name;
	int       (*run)(struct ctl *c, int argc, char **argv);
	const char *usage;
};

/* ctl_user.c */
int ctl_user_main(struct ctl *c, int argc, char **argv);
extern const char ctl_user_usage[];

/* ctl_queue.c */
int ctl_queue_main(struct ctl *c, int argc, char **argv);
extern const char ctl_queue_usage[];

/* ctl_metrics.c */
int ctl_metrics_main(struct ctl *c, int argc, char **argv);
extern const char ctl_metrics_usage[];

/* ctl_queue.c: connect to ferryd's control socket (-1 after a warning),
 * send one request line. */
int ctl_queue_connect(const char *path);
int ctl_queue_send(int fd, const char *req);
/* A data line of a reply (NUL-terminated, no LF; printable octets and TABs
 * only, already checked); false when it is malformed. */
typedef bool (*ctl_queue_line_fn)(void *arg, char *line);
/* Send req (one line ending in LF) to ferryd and read the reply, each data
 * line to fn (NULL: the reply must have none). Returns CTL_EXIT_OK at "OK";
 * on "ERR reason" or any failure prints "ferryctl: LABEL: why" and returns
 * CTL_EXIT_ERR. */
int ctl_queue_ask(struct ctl *c, const char *req, const char *label, ctl_queue_line_fn fn,
    void *arg);
/* Print the queue usage on stderr; returns CTL_EXIT_USAGE. */
int ctl_queue_usage_error(void);

/* ctl_queue_held.c: `queue list --held`: the messages in hold/ with why
 * each is held, read from the spool itself. */
int ctl_queue_held_list(struct ctl *c);
/* ctl_queue_summary.c: `queue summary` and `queue suspend|resume`; argv[0]
 * is the subcommand. */
int ctl_queue_summary(struct ctl *c, int argc, char **argv);
int ctl_queue_suspend(struct ctl *c, int argc, char **argv);

/* The relay service's state (tenants...): ctl_tenant.c, ctl_account.c,
 * ctl_key.c, ctl_domain.c, ctl_connector.c. */
int ctl_tenant_main(struct ctl *c, int argc, char **argv);
extern const char ctl_tenant_usage[];
int ctl_account_main(struct ctl *c, int argc, char **argv);
extern const char ctl_account_usage[];
int ctl_key_main(struct ctl *c, int argc, char **argv);
int ctl_events_main(struct ctl *c, int argc, char **argv);
extern const char ctl_events_usage[];
extern const char ctl_key_usage[];
int ctl_domain_main(struct ctl *c, int argc, char **argv);
extern const char ctl_domain_usage[];
int ctl_connector_main(struct ctl *c, int argc, char **argv);
extern const char ctl_connector_usage[];
int ctl_suppression_main(struct ctl *c, int argc, char **argv);
extern const char ctl_suppression_usage[];
/* ctl_webhook.c: a tenant's webhook endpoints. */
int ctl_webhook_main(struct ctl *c, int argc, char **argv);
extern const char ctl_webhook_usage[];

/* ctl_events.c: a remote peer's text for a terminal and a tab-separated
 * column: control octets and tabs become spaces. Returns out. */
const char *ctl_text_clean(const char *in, char *out, size_t outsz);

/* ctl_stats.c: `stats [TENANT] ...` (delivery statistics, src/analytics/). */
int ctl_stats_main(struct ctl *c, int argc, char **argv);
extern const char ctl_stats_usage[];
/* ctl_admin_token.c: `admin-token` (the HTTP API's admin token). */
int ctl_admin_token_main(struct ctl *c, int argc, char **argv);
extern const char ctl_admin_token_usage[];

/* ctl_cluster.c: `cluster status` (the nodes sharing the state database). */
int ctl_cluster_main(struct ctl *c, int argc, char **argv);
extern const char ctl_cluster_usage[];
/* ctl_db.c: `db status|migrate` (the state database and its schema). */
int ctl_db_main(struct ctl *c, int argc, char **argv);
extern const char ctl_db_usage[];

/* ctl_bounce.c: `bounce classify|categories` (the bounce classifier). */
int ctl_bounce_main(struct ctl *c, int argc, char **argv);
extern const char ctl_bounce_usage[];

/* ctl_domain_check.c: `domain check DOMAIN` (DNS: SPF, DKIM, DMARC, bounce MX). */
int ctl_domain_check(struct ctl *c, const char *domain);

/* ctl_conf.c: the configuration (-c, else the embedded default), loaded on
 * first use through conf_load; NULL after printing conf_load's message.
 * Freed by ctl_conf_free (main, after the command). */
const struct conf *ctl_conf_get(struct ctl *c);
void ctl_conf_free(struct ctl *c);
/* The users file, the state database and the control socket (see
 * ferryctl(8), FILES). */
int ctl_users_path(struct ctl *c);
int ctl_state_path(struct ctl *c);
int ctl_control_path(struct ctl *c);

/* ctl_pass.c: a password of 1..AUTH_PASS_MAX octets into buf (size
 * AUTH_PASS_MAX + 1, NUL-terminated), from the terminal asked twice without
 * echo, or one line of stdin. The caller wipes buf. */
int ctl_pass_get(const char *name, bool from_stdin, char *buf, size_t size);

/* main.c */
void ctl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ctl_usage_print(bool to_stderr);
/* Report getopt's ':' or '?' (opterr is off; optstring starts with ':'). */
void ctl_opt_warn(int ch, char **argv);

#endif
