/*
 * deliver.c - one delivery attempt of one queued message: group pending
 * recipients by domain, hand each group to its transport, then record the
 * outcomes durably, notify the sender (RFC 3464) and finish or reschedule.
 * SECURITY: nothing from the message or a peer is interpreted: addresses
 * select a route from the configuration, replies are copied as text.
 * Durability: a recipient's final state is written into the queue file and
 * fdatasync'd before the file is kept for a retry; a finished file is
 * removed only after any notification it needs is itself durable.
 */
#include "delivery/deliver_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/tls.h"
#include "queue/qmgr.h"
#include "smtp/smtp_parse.h"
#include "util/log.h"
#include "util/xmalloc.h"

struct deliver_ctx *
deliver_ctx_new(const struct deliver_handles *h, struct qmgr *q)
{
	struct deliver_ctx *d = xcalloc(1, sizeof(*d));

	d->h = h;
	d->q = q;
	return d;
}

SSL_CTX *
deliver_tls_ctx(struct deliver_ctx *d, const struct conf *c)
{
	const char *key = c->tls_ca_file ? c->tls_ca_file : "";
	struct stat st;
	time_t mtime = c->tls_ca_file && stat(c->tls_ca_file, &st) == 0 ? st.st_mtime : 0;
	char err[512];

	/* A failure is kept too: the file is read again only once it changes,
	 * not at every delivery (nor logged at every one). */
	if (d->tls_key != NULL && strcmp(d->tls_key, key) == 0 && d->tls_mtime == mtime)
		return d->tls;
	SSL_CTX_free(d->tls);
	free(d->tls_key);
	d->tls_key = xstrdup(key);
	d->tls_mtime = mtime;
	d->tls = tls_client_ctx_new(c->tls_ca_file, err, sizeof(err));
	if (d->tls == NULL)
		log_error("event=tls-client-unavailable error=\"%s\" effect=\"tls=require and "
		    "tls=verify deliveries defer\"", err);
	return d->tls;
}

/* At start and reload: a route that sends a password to any certificate
 * is the administrator's choice, but never a silent one. */
void
deliver_routes_tls_warn(const struct conf *c)
{
	for (size_t i = 0; i < c->nroutes; i++) {
		const struct conf_route *r = &c->routes[i];
		if (r->auth_user != NULL && r->tls_noverify)
			log_warn("event=config-warning route=%s host=%s reason=\"tls_verify=no: the password "
			    "is sent without verifying the certificate of %s\"", r->domain, r->host, r->host);
	}
}

void
deliver_conn_close(struct deliver_ctx *d)
{
	if (d->conn != NULL) {
		mta_close(d->conn);
		d->conn = NULL;
		d->conn_key[0] = '\0';
	}
}

/* Idle: no connection kept open for nothing, no destination slot held. */
void
deliver_ctx_idle(struct deliver_ctx *d)
{
	deliver_conn_close(d);
	if (d->slot_dest[0] != '\0') {
		deliver_dest_release(d->slot_dest);
		d->slot_dest[0] = '\0';
	}
}

void
deliver_ctx_free(struct deliver_ctx *d)
{
	if (d == NULL)
		return;
	deliver_ctx_idle(d);
	if (d->dns != NULL)
		dns_resolver_free(d->dns);
	free(d->dns_key);
	SSL_CTX_free(d->tls);
	free(d->tls_key);
	free(d);
}

static const char *
deliver_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : "";
}

void
deliver_progress_save(const struct spool_env *env, int fd, struct rcpt_result *const *g, size_t n)
{
	bool marked = false;

	for (size_t i = 0; i < n; i++) {
		struct spool_rcpt *r = g[i]->r;
		if (g[i]->reply.code < 200 || g[i]->reply.code >= 300 || r->state != SPOOL_RCPT_PENDING)
			continue;
		if (spool_rcpt_mark(fd, r, SPOOL_RCPT_DELIVERED) < 0)
			break;
		r->state = SPOOL_RCPT_DELIVERED;   /* on disk now: not marked again */
		marked = true;
	}
	if (marked && fdatasync(fd) < 0)
		log_error("event=spool-error id=%s error=\"cannot record delivered recipients: %s\"", env->id,
		    strerror(errno));
}

/* Is a pending recipient left for another transaction of this attempt? */
static bool
deliver_more_follow(const struct rcpt_result *res, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (res[i].state == SPOOL_RCPT_PENDING && !res[i].attempted)
			return true;
	return false;
}

/* Postmaster without a domain ("<Postmaster>") is ours. */
static void
deliver_group_dispatch(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env,
    int fd, struct rcpt_result *res, size_t n, size_t first)
{
	const char *domain = deliver_domain(res[first].r->addr);
	const struct conf_route *route = domain[0] ? conf_route_find(c, domain) : NULL;
	struct rcpt_result **group = xcalloc(n, sizeof(*group));
	size_t ng = 0;

	for (size_t i = first; i < n; i++)
		if (res[i].state == SPOOL_RCPT_PENDING && !res[i].attempted &&
		    strcasecmp(deliver_domain(res[i].r->addr), domain) == 0) {
			res[i].attempted = true;
			group[ng++] = &res[i];
		}
	if (domain[0] == '\0' || (route != NULL && route->transport == CONF_TRANSPORT_MAILDIR)) {
		for (size_t i = 0; i < ng; i++)
			deliver_local(d, c, env, fd, group[i]);
	} else
		deliver_remote(d, c, route, domain, env, fd, group, ng);
	if (deliver_more_follow(res, n))
		deliver_progress_save(env, fd, group, ng);
	free(group);
}

static void
deliver_log(const struct conf *c, const struct spool_env *env, const struct rcpt_result *r,
    int attempts)
{
	const char *ev = r->state == SPOOL_RCPT_DELIVERED ? "delivered" :
	    r->state == SPOOL_RCPT_FAILED ? "bounced" : "deferred";
	char to[300], reply[600], relay[1210], text[MTA_TEXT_MAX + 8];

	(void)c;
	snprintf(text, sizeof(text), "%d %s", r->reply.code, r->reply.text);
	log_info("event=%s id=%s to=%s relay=%s delay=%lds attempts=%d reply=%s%s%s", ev, env->id,
	    log_quote(to, sizeof(to), r->r->addr, strlen(r->r->addr)),
	    /* the MX host name comes from DNS: quoted like a peer's text */
	    r->relay[0] ? log_quote(relay, sizeof(relay), r->relay, strlen(r->relay)) : "none",
	    (long)(time(NULL) - env->arrival), attempts + 1,
	    log_quote(reply, sizeof(reply), text, strlen(text)),
	    r->reason && r->state == SPOOL_RCPT_PENDING ? " reason=" : "",
	    r->reason && r->state == SPOOL_RCPT_PENDING ? r->reason : "");
}

/* Map replies to states; a deferral past the queue lifetime is a failure,
 * except one caused only by a warm-up cap: that is ferry's own pacing, not
 * a problem with the destination, so such mail waits for room. */
static void
deliver_outcomes(const struct conf *c, const struct spool_env *env, struct rcpt_result *res,
    size_t n, int attempts)
{
	bool expired = c->max_queue_lifetime > 0 && time(NULL) - env->arrival >= c->max_queue_lifetime;

	for (size_t i = 0; i < n; i++) {
		struct rcpt_result *r = &res[i];
		if (!r->attempted)
			continue;
		if (r->reply.code >= 200 && r->reply.code < 300)
			r->state = SPOOL_RCPT_DELIVERED;
		else if (r->reply.code >= 500)
			r->state = SPOOL_RCPT_FAILED;
		else if (expired && !r->no_expire) {
			char why[MTA_TEXT_MAX];
			snprintf(why, sizeof(why), "%s", r->reply.text);
			mta_reply_set(&r->reply, 554, "4.4.7 message expired after %lld days in the queue; last error: %.400s",
			    c->max_queue_lifetime / 86400, why);
			r->state = SPOOL_RCPT_FAILED;
		}
		deliver_log(c, env, r, attempts);
	}
}

static time_t
deliver_backoff(const struct conf *c, int attempts)
{
	long long delay = c->retry_min;

	for (int i = 0; i < attempts && delay < c->retry_max; i++)
		delay *= 2;
	if (delay > c->retry_max)
		delay = c->retry_max;
	return time(NULL) + (time_t)delay;
}

/* Backoff doubling from retry_min to retry_max; a recipient deferred
 * for a known time (warm-up: the next UTC midnight, provider rate: the
 * end of its minute; both capped at retry_max) sets its own time. */
static time_t
deliver_next_try(const struct conf *c, int attempts, const struct rcpt_result *res, size_t n)
{
	time_t at = 0, now = time(NULL);

	for (size_t i = 0; i < n; i++) {
		time_t t;
		if (res[i].state != SPOOL_RCPT_PENDING)
			continue;
		if (res[i].retry_at == 0)
			t = deliver_backoff(c, attempts);
		else
			t = res[i].retry_at < now + c->retry_max ? res[i].retry_at : now + (time_t)c->retry_max;
		if (at == 0 || t < at)
			at = t;
	}
	return at != 0 ? at : deliver_backoff(c, attempts);
}

/* Persist the finished recipients of a message that stays queued. */
static int
deliver_marks_write(int fd, struct rcpt_result *res, size_t n, time_t next_try)
{
	for (size_t i = 0; i < n; i++)
		if (res[i].state != SPOOL_RCPT_PENDING && res[i].state != res[i].r->state &&
		    spool_rcpt_mark(fd, res[i].r, res[i].state) < 0)
			return -1;
	if (spool_queue_touch(fd, next_try) < 0)
		return -1;
	return fdatasync(fd);
}

static void
deliver_finish(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env, int fd,
    struct rcpt_result *res, size_t n, int attempts, bool warned, struct deliver_outcome *out)
{
	struct spool *sp = d->h->spool;

	if (deliver_dsn_send(d, c, env, fd, res, n, DSN_FAILURES) < 0) {
		/* Without its notification a failure must not be final: keep those
		 * recipients pending so the next attempt reports them again. */
		for (size_t i = 0; i < n; i++)
			if (res[i].attempted && res[i].state == SPOOL_RCPT_FAILED)
				res[i].state = SPOOL_RCPT_PENDING;
		log_error("event=dsn-failed id=%s reason=\"cannot queue a delivery status notification\"", env->id);
	}
	if (deliver_dsn_send(d, c, env, fd, res, n, DSN_SUCCESSES) < 0)
		log_error("event=dsn-failed id=%s reason=\"cannot queue a success notification\"", env->id);
	for (size_t i = 0; i < n; i++)
		if (res[i].state == SPOOL_RCPT_PENDING) {
			out->ndeferred++;
			snprintf(out->last_error, sizeof(out->last_error), "%d %.245s", res[i].reply.code,
			    res[i].reply.text);
		}
	if (out->ndeferred == 0) {
		spool_queue_remove(sp, env->id, false);
		out->removed = true;
		log_info("event=removed id=%s", env->id);
		return;
	}
	out->next_try = deliver_next_try(c, attempts, res, n);
	if (deliver_marks_write(fd, res, n, out->next_try) < 0)
		log_error("event=spool-error id=%s error=\"cannot record recipient states: %s\"", env->id,
		    strerror(errno));
	if (!warned && !env->warned && c->delay_warning > 0 && time(NULL) - env->arrival >= c->delay_warning &&
	    deliver_dsn_send(d, c, env, fd, res, n, DSN_DELAYS) == 0) {
		out->warned = true;
		/* remembered in the queue file, so a restart does not warn again */
		if (env->warn_off > 0 && (spool_warn_mark(fd, env) < 0 || fdatasync(fd) < 0))
			log_error("event=spool-error id=%s error=\"cannot record the delay warning: %s\"", env->id,
			    strerror(errno));
	}
}

static struct rcpt_result *
deliver_results_new(struct spool_env *env)
{
	struct rcpt_result *res = xcalloc(env->nrcpts ? env->nrcpts : 1, sizeof(*res));

	for (size_t i = 0; i < env->nrcpts; i++) {
		res[i].r = &env->rcpts[i];
		res[i].state = env->rcpts[i].state;
	}
	return res;
}

/* A suspended tenant's message waits in hold/ until `ferryctl tenant
 * resume` releases it; it is never bounced for the suspension. */
static void
deliver_hold(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env, int attempts,
    struct deliver_outcome *out)
{
	char name[STATE_NAME_MAX * 2 + 8];

	log_quote(name, sizeof(name), d->tenant.t.name, strlen(d->tenant.t.name));
	if (spool_queue_hold(d->h->spool, env->id, true) == 0) {
		out->held = true;
		snprintf(out->last_error, sizeof(out->last_error), "held: tenant %.64s is suspended",
		    d->tenant.t.name);
		log_info("event=held id=%s tenant=%s reason=\"tenant suspended\"", env->id, name);
		return;
	}
	log_error("event=spool-error id=%s error=\"cannot move to hold/ for suspended tenant %s: %s\"",
	    env->id, name, strerror(errno));
	out->ndeferred = 1;
	out->next_try = deliver_backoff(c, attempts);
	snprintf(out->last_error, sizeof(out->last_error), "451 4.3.0 tenant suspended; cannot hold");
}

/* The state database failed: every pending recipient waits (4.3.0). */
static void
deliver_state_defer(struct rcpt_result *res, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (res[i].state == SPOOL_RCPT_PENDING) {
			res[i].attempted = true;
			mta_reply_set(&res[i].reply, 451, "4.3.0 state database unavailable; will retry");
		}
}

void
deliver_message(struct deliver_ctx *d, const char *id, int attempts, bool warned,
    struct deliver_outcome *out)
{
	struct server_snap *snap = server_snap_get(d->h->snaps);
	const struct conf *c = snap->conf;
	struct spool_env env;
	struct rcpt_result *res;
	int fd;

	memset(out, 0, sizeof(*out));
	fd = spool_queue_open(d->h->spool, id, false);
	if (fd < 0 || spool_env_parse(fd, &env) < 0) {
		log_error("event=queue-file-unreadable id=%s error=\"%s\"", id, fd < 0 ? strerror(errno) : "bad format");
		out->unreadable = true;
		if (fd >= 0)
			close(fd);
		server_snap_put(snap);
		return;
	}
	res = deliver_results_new(&env);
	switch (deliver_tenant_load(d, &env)) {
	case 1:
		spool_queue_touch(fd, SPOOL_HOLD_TENANT_MTIME);   /* why held: kept on disk */
		close(fd);
		fd = -1;
		deliver_hold(d, c, &env, attempts, out);
		goto done;
	case -1:
		deliver_state_defer(res, env.nrcpts);
		break;
	default:
		for (size_t i = 0; i < env.nrcpts; i++)
			if (res[i].state == SPOOL_RCPT_PENDING && !res[i].attempted)
				deliver_group_dispatch(d, c, &env, fd, res, env.nrcpts, i);
	}
	deliver_dkim_reset(d);
	deliver_outcomes(c, &env, res, env.nrcpts, attempts);
	deliver_finish(d, c, &env, fd, res, env.nrcpts, attempts, warned, out);
done:
	free(res);
	spool_env_free(&env);
	if (fd >= 0)
		close(fd);
	server_snap_put(snap);
}
