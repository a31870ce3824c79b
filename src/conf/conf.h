/*
 * conf.h - ferry.conf: parsed configuration, immutable once loaded.
 * One option per line, "name value...", '#' starts a comment. Every error
 * names FILE:LINE. The embedded default (no file) is conf_load(NULL).
 * A reload builds a new struct conf; sessions keep the one they started with
 * (reference counted) so SIGHUP never disturbs a transaction in progress.
 */
#ifndef FERRY_CONF_CONF_H
#define FERRY_CONF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util/netaddr.h"

/* local: the Unix socket ferry-sendmail submits through (trusted, no TLS).
 * http, https: the HTTP API and dashboard (src/http/); kept apart from the
 * SMTP listeners, in conf->http_listeners. */
enum conf_role { CONF_ROLE_MX, CONF_ROLE_SUBMISSION, CONF_ROLE_SUBMISSIONS, CONF_ROLE_LOCAL,
	CONF_ROLE_HTTP, CONF_ROLE_HTTPS };

struct conf_milter;

struct conf_listener {
	enum conf_role          role;
	char                   *text;     /* as written, for logs */
	char                   *source;   /* outbound source for mail received here, or NULL */
	struct sockaddr_storage ss;
	socklen_t               sslen;
	/* milters=NAME[,NAME]: the filters this listener's mail goes through,
	 * in order (pointers into conf->milters once the file is read) */
	char                  **milter_names;
	const struct conf_milter **milters;
	size_t                  nmilters;
	int                     line;
};

/* "milter NAME inet:HOST:PORT|unix:PATH [connect_timeout=DURATION]
 * [timeout=DURATION] [default_action=tempfail|accept] [spam=yes|no]": a content filter
 * (src/milter/). HOST is an IP address (no lookup on the event loop). */
struct conf_milter {
	char                   *name;
	char                   *target;          /* as written */
	struct sockaddr_storage ss;
	socklen_t               sslen;
	long long               connect_timeout; /* seconds */
	long long               timeout;         /* seconds, for each reply */
	bool                    default_accept;  /* else tempfail */
	bool                    spam;            /* its rejects are spam verdicts (rspamd) */
};

struct conf_alias {
	char  *from;       /* lowercase address */
	char **to;         /* lowercase addresses */
	size_t nto;
};

enum conf_transport {
	CONF_TRANSPORT_MX,        /* look up MX records (default for foreign domains) */
	CONF_TRANSPORT_SMTP,      /* a fixed next hop (smarthost) */
	CONF_TRANSPORT_LMTP,      /* LMTP over TCP or a Unix socket */
	CONF_TRANSPORT_MAILDIR,   /* local Maildir (default for hosted domains) */
};

/* verify: TLS required and the peer's certificate verified (tls_ca_file or
 * the system's CAs) for the host name; the default of a route with auth=. */
enum conf_tls { CONF_TLS_DEFAULT = -1, CONF_TLS_NONE = 0, CONF_TLS_MAY = 1, CONF_TLS_REQUIRE = 2,
	CONF_TLS_VERIFY = 3 };

/* "route DOMAIN TRANSPORT [tls=..] [tls_verify=no] [auth=USER:PASS] [source=IP]";
 * domain "*" is the default route for every foreign domain. */
struct conf_route {
	char               *domain;
	enum conf_transport transport;
	char               *host;       /* smtp/lmtp over TCP */
	int                 port;
	char               *path;       /* lmtp over a Unix socket */
	enum conf_tls       tls;
	char               *auth_user, *auth_pass;
	bool                tls_noverify; /* tls_verify=no: auth= over an unverified peer */
	char               *source;     /* outbound source address */
};

struct dkim_key;
struct shape_rules;
struct classify_rules;

/* "pool NAME [select=round-robin|weighted]" and
 * "pool_address NAME IP [ehlo=HOST] [weight=N] [warmup=N,N,...] [warmup_start=YYYY-MM-DD]":
 * named sets of source addresses tenants send from (see docs). */
enum conf_pool_select { CONF_POOL_ROUND_ROBIN, CONF_POOL_WEIGHTED };

struct conf_pool_addr {
	char      *addr;          /* IP literal, validated */
	char      *ehlo;          /* EHLO name when sending from addr; NULL: hostname */
	long long  weight;        /* >= 1 */
	long long *warmup;        /* daily caps, day 1, 2, ...; after the last: no cap */
	size_t     nwarmup;       /* 0: no warm-up */
	long long  warmup_start;  /* day number (days since the epoch, UTC); -1: first use */
};

struct conf_pool {
	char                  *name;
	enum conf_pool_select  select;
	struct conf_pool_addr *addrs;
	size_t                 naddrs;
};

/* "provider NAME PATTERN[,PATTERN...] [connections=N] [rate=N]": limits shared by
 * every destination whose MX host matches a pattern ("*.google.com", or
 * an exact name); rate is messages per minute, 0 none. */
struct conf_provider {
	char     **patterns;
	size_t     npatterns;
	char      *name;
	long long  connections, rate;
};

struct conf {
	char *path;                      /* NULL: embedded default */
	char *hostname;
	char *spool_dir;
	char *users_file;
	char *tls_cert, *tls_key;
	bool  tls_generate;              /* create a self-signed pair if missing */
	char *run_user;                  /* NULL: do not change user */
	bool  run_user_default;          /* not set explicitly: may fall back */
	char *log_file;                  /* NULL: stderr */
	char *log_level;
	bool  log_json;                  /* log_format json (else text) */
	bool  log_syslog;                /* also to syslog(3) */

	struct conf_listener *listeners;
	size_t                nlisteners;

	char  **domains;     size_t ndomains;     /* sorted, lowercase */
	char  **mailboxes;   size_t nmailboxes;   /* sorted, lowercase */
	struct conf_alias *aliases; size_t naliases; /* sorted by from */
	struct netaddr_net *relay_nets; size_t nrelay_nets;

	/* Single-valued options: see the table in conf_option.c for min, max, default. */
	long long workers;
	long long max_message_size;
	long long max_recipients;
	long long max_line_length;
	long long max_connections;
	long long max_connections_per_client;
	long long listen_backlog;          /* 0: the system's maximum (somaxconn) */
	long long max_errors;
	long long junk_command_limit;      /* NOOP/RSET/VRFY before each counts as an error */
	long long auth_max_failures;
	long long timeout_command;
	long long timeout_data;
	long long data_min_rate;           /* octets/s earning DATA deadline credit */
	long long queue_minfree;           /* octets kept free on the spool */
	long long timeout_shutdown;
	bool      reject_bare_lf;
	bool      spool_syncfs;            /* spool_sync syncfs|fsync */

	/* Delivery (see docs/configuration.md, DELIVERY). */
	long long delivery_threads;        /* the outbound loop's worker threads */
	long long delivery_max_inflight;   /* delivery attempts at once */
	bool      outbound_ipv6;           /* AAAA records used (after A) */
	long long retry_min, retry_max, max_queue_lifetime, delay_warning;
	long long smtp_port;
	long long destination_concurrency, destination_msgs_per_conn, destination_rate;
	long long dns_timeout, connect_timeout, smtp_timeout;
	/* Suppression of a tenant's recipient after repeated soft bounces:
	 * this many within window seconds suppress it for expiry seconds. */
	long long suppress_soft_threshold, suppress_soft_window, suppress_soft_expiry;
	enum conf_tls smtp_tls;
	char *tls_ca_file;                 /* CAs for tls=verify; NULL: the system's store */
	bool      delivery_on;             /* delivery on|off: off keeps mail queued */
	char *dns_servers;                 /* NULL: the system's resolver */
	char *maildir_root;
	char *control_socket;
	char *submit_socket;
	char *postmaster;
	char *complaint_local_part;        /* complaints reach it @ a bounce domain; default "fbl" */
	char *outbound_source;             /* NULL: the kernel picks */
	struct conf_route *routes; size_t nroutes;
	/* "dkim_sign DOMAIN SELECTOR KEYFILE" keys in file order: mail whose
	 * From: is in DOMAIN (or a subdomain) is signed with each of its keys. */
	struct dkim_key  **dkim_keys; size_t ndkim;
	char *state_db;                    /* tenants etc.: a SQLite file (default spool_dir/ferry.db)
	                                    * or a postgresql:// URI shared by several nodes */
	char *node_name;                   /* this node in a cluster; default hostname */
	char *dkim_key_dir;                /* tenants' DKIM keys; NULL: dkim/ beside the SQLite state */
	/* shaping_rules FILE, "none", or NULL (the embedded rules); the loaded
	 * set, NULL for none, owned here and immutable: a reload makes another */
	char *shaping_rules;
	struct shape_rules   *shaping;
	/* bounce_rules FILE, "none", or NULL (the embedded rules); the loaded
	 * set (feedback/classify.h), NULL for none: classify_reply takes NULL
	 * and says "other". Owned here and immutable: a reload makes another */
	char *bounce_rules_file;
	const struct classify_rules *bounce_rules;
	struct conf_pool     *pools;     size_t npools;
	struct conf_provider *providers; size_t nproviders;
	/* milter lines, and tenant_milters NAME[,NAME] (every tenant's message,
	 * whatever the listener; pointers into milters) */
	struct conf_milter   *milters;   size_t nmilters;
	char                **tenant_milter_names;
	const struct conf_milter **tenant_milters; size_t ntenant_milters;
	int                   tenant_milters_line;
	int  *option_lines;                /* see conf_option_line */

	/* Reputation and enforcement (docs/configuration.md; src/reputation/):
	 * rates in parts per million (3000 = 0.3%), 0 turns a rule off. */
	long long abuse_window, abuse_min_volume;
	long long abuse_complaint_throttle, abuse_complaint_suspend;
	long long abuse_hard_bounce_throttle, abuse_unknown_throttle;
	long long abuse_spike_factor, abuse_spike_min, abuse_throttle_rate;

	/* The HTTP API and dashboard (src/http/, docs/api.md): "listen http|https"
	 * lines (never given to the SMTP server), and their options. */
	struct conf_listener *http_listeners;
	size_t                nhttp_listeners;
	long long http_threads;
	long long http_max_body;
	char *http_admin_token_file;       /* default: admin.token beside state_db */
	char *http_www_dir;                /* the dashboard's files */
	char *http_public_url;             /* base of links ferry hands out; NULL: none */
	/* Webhooks (src/webhook/, docs/configuration.md WEBHOOKS): events per
	 * POST, seconds per POST, the first backoff, seconds of failure before
	 * a batch is dropped, POSTs in flight at once. */
	long long webhook_batch_max, webhook_timeout, webhook_retry_min, webhook_retry_limit;
	long long webhook_concurrency;

	/* Shared counters (src/state/counters_open.c, docs/configuration.md
	 * COUNTERS): NULL or "local" for this node's own (persisted in
	 * state_db), else a redis:// URI; counters_failure open|closed. Read at
	 * start only: a change needs a restart. */
	char *counters;
	bool  counters_fail_open;
	/* The state cache in that Redis (src/state/state_cache.c): used when
	 * state_db is PostgreSQL and counters is redis://. Default on. */
	bool  state_cache;
};

/* "0.3%", "0.3", "10%" (at most four decimals, at most 100%) into parts
 * per million: 0, or -1 when it is not such a percentage. */
int conf_percent_parse(const char *s, long long *ppm);

const struct conf_milter *conf_milter_find(const struct conf *c, const char *name);
const struct conf_pool *conf_pool_find(const struct conf *c, const char *name);
/* The first provider with a pattern matching host (lowercase), or NULL. */
const struct conf_provider *conf_provider_match(const struct conf *c, const char *host);

/* The route for a recipient domain: an explicit route, else maildir for a
 * hosted domain, else the "*" route, else NULL (MX lookup). */
const struct conf_route *conf_route_find(const struct conf *c, const char *domain);

/* Load path (NULL for the embedded default). On error returns NULL with
 * "FILE:LINE: message" in err. */
struct conf *conf_load(const char *path, char *err, size_t errlen);

/* CONF_LOAD_NO_FILES: parse every line (dkim_sign's words, tls_ca_file's
 * name) but open none of the files they name, so dkim_keys stays empty.
 * For the tools that only want the configuration's paths and limits
 * (ferry-sendmail, ferryctl) and run as users who may not read ferryd's
 * private keys; ferryd and ferryd -t load and check every file. */
#define CONF_LOAD_NO_FILES 0x1u

/* $FERRY_CONFIG when set and not empty, else NULL: the one variable that
 * points ferryctl and ferry-sendmail at an installed configuration. */
const char *conf_env_path(void);
struct conf *conf_load_flags(const char *path, unsigned flags, char *err, size_t errlen);
void conf_free(struct conf *c);

/* Checks that make a configuration unsafe to run (an open relay, a listener
 * without TLS material where TLS is required...). Returns 0 or -1 + err. */
int conf_check(const struct conf *c, char *err, size_t errlen);

/* A reload cannot move what ferryd opened at start: the first of spool_dir,
 * state_db, control_socket, submit_socket and user that differs between
 * the running configuration and the next one, or NULL. Both with their
 * paths written the same way (ferryd rebases both on its spool). */
const char *conf_restart_needed(const struct conf *run, const struct conf *next);

/* The line of the file that set a single-valued option (tls_key...), 0 when
 * the file did not: for messages about the files such options name. */
int conf_option_line(const struct conf *c, const char *name);

bool conf_domain_hosted(const struct conf *c, const char *domain);
bool conf_mailbox_exists(const struct conf *c, const char *addr);
const struct conf_alias *conf_alias_find(const struct conf *c, const char *addr);
/* Exact alias, else the domain's catch-all ("alias @domain ...") unless addr is a mailbox. */
const struct conf_alias *conf_alias_lookup(const struct conf *c, const char *addr);
bool conf_relay_net_match(const struct conf *c, const struct sockaddr *sa);
const char *conf_role_name(enum conf_role r);

#endif
