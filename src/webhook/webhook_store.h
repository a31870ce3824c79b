/*
 * webhook_store.h - a tenant's webhook endpoints (table webhooks of the
 * state database): adding one makes its signing secret, listing never
 * needs it, and the sender keeps each endpoint's progress (cursor, retry
 * state) there so a restart resumes where it stopped.
 * SECURITY: the URL and the event list come from a tenant (API) or the
 * administrator (ferryctl): checked here (scheme, length, no control
 * octets or spaces; known kinds only) before they are stored. The secret
 * is kept as text because the HMAC needs it; it leaves the database only
 * to the sender and, once, to whoever added the endpoint.
 */
#ifndef FERRY_WEBHOOK_WEBHOOK_STORE_H
#define FERRY_WEBHOOK_WEBHOOK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "state/state.h"

#define WEBHOOK_URL_MAX        2048
#define WEBHOOK_SECRET_PREFIX  "whsec_"
#define WEBHOOK_SECRET_LEN     (6 + 64)     /* "whsec_" + 32 random octets in hex */
#define WEBHOOK_EVENTS_MAX     512          /* the comma list as stored */
#define WEBHOOK_ERROR_MAX      255
#define WEBHOOK_PER_TENANT_MAX 20           /* endpoints of one tenant */

struct webhook {
	long long id;
	long long tenant_id;
	char      tenant[STATE_NAME_MAX + 1];
	char      url[WEBHOOK_URL_MAX + 1];
	char      secret[WEBHOOK_SECRET_LEN + 1];   /* "" unless asked for */
	char      events[WEBHOOK_EVENTS_MAX + 1];   /* "" = every kind */
	long long cursor;                           /* last event id delivered */
	time_t    created;
	long long failures;                         /* of the current batch */
	time_t    next_try;                         /* 0: now */
	time_t    failing_since;                    /* 0: not failing */
	char      last_error[WEBHOOK_ERROR_MAX + 1];
};

/* An endpoint's URL: http:// or https://, a host, at most WEBHOOK_URL_MAX
 * octets of printable ASCII without spaces. 0, or -1 with why in err. */
int webhook_url_check(const char *url, char *err, size_t errlen);
/* A comma list of event kinds (events.h names) into its canonical form
 * (no spaces, each once) in out; "" or "all" is every kind. 0 or -1 + err. */
int webhook_events_norm(const char *in, char *out, size_t outsz, char *err, size_t errlen);
/* Does the stored list events ("" all) take kind? */
bool webhook_events_match(const char *events, const char *kind);
/* url for a log line or a listing: user:password@ (credentials) left out. */
const char *webhook_url_redact(const char *url, char *out, size_t outsz);
/* Only "scheme://host[:port]" of url, for log lines: a path or a query
 * often carries the endpoint's own token (Slack-like hook URLs). */
const char *webhook_url_origin(const char *url, char *out, size_t outsz);

/* Add an endpoint for tenant_id; w gets the row with its new secret. It
 * starts after the newest event recorded now (no backlog). 0, or -1 with
 * err (a refused URL or list, too many endpoints, a database error). */
int webhook_add(struct state *st, long long tenant_id, const char *url, const char *events,
    struct webhook *w, char *err, size_t errlen);
/* By id, of tenant_id (0: any tenant). with_secret: fill w->secret.
 * 1 found, 0 none, -1 error. */
int webhook_get(struct state *st, long long id, long long tenant_id, bool with_secret,
    struct webhook *w);
typedef void (*webhook_fn)(void *arg, const struct webhook *w);
/* The endpoints of tenant_id (0: every tenant) by id. n or -1. */
int webhook_list(struct state *st, long long tenant_id, bool with_secret, webhook_fn fn, void *arg);
/* Delete by id, of tenant_id (0: any). 1 deleted, 0 none, -1 error. */
int webhook_del(struct state *st, long long id, long long tenant_id);
/* Save w's progress: cursor, failures, next_try, failing_since,
 * last_error. 0 or -1. */
int webhook_progress_save(struct state *st, const struct webhook *w);

#endif
