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

#include "events/outbox.h"
#include "net/tls.h"
#include "net/coro.h"
#include <sodium.h>
#include "smtp/smtp_parse.h"
#include "util/log.h"
#include "util/xmalloc.h"

SSL_CTX *
deliver_tls_ctx(struct deliver_ctx *d, const struct conf *c)
{
	const char *key = c->tls_ca_file ? c->tls_ca_file : "";
	struct stat st;
	time_t mtime = c->tls_ca_file && stat(c->tls_ca_file, &st) == 0 ? st.st_mtime : 0;
	char err[512];

	/* A failure is kept too: the file is read again only once it changes,
	 * not at every delivery (nor logged at every one). */
	struct deliver_shared *sh = d->sh;

	if (sh->tls_key != NULL && strcmp(sh->tls_key, key) == 0 && sh->tls_mtime == mtime)
		return sh->tls;
	/* connections made with the old context keep a reference to it */
	SSL_CTX_free(sh->tls);
	free(sh->tls_key);
	sh->tls_key = xstrdup(key);
	sh->tls_mtime = mtime;
	sh->tls = tls_client_ctx_new(c->tls_ca_file, err, sizeof(err));
	if (sh->tls == NULL)
		log_error("event=tls-client-unavailable error=\"%s\" effect=\"tls=require and "
		    "tls=verify deliveries defer\"", err);
	return sh->tls;
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

static const char *
deliver_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : "";
}

struct progress_job {
	struct spool               *spool;
	const struct spool_env     *env;
	int                         fd;
	struct rcpt_result *const  *g;
	size_t                      n;
};

static void
deliver_progress_write(void *arg)
{
	struct progress_job *j = arg;
	const struct spool_env *env = j->env;
	struct rcpt_result *const *g = j->g;
	size_t n = j->n;
	int fd = j->fd >= 0 ? j->fd : spool_queue_open(j->spool, env->id, false);
	bool marked = false;

	if (fd < 0) {
		log_error("event=spool-error id=%s error=\"cannot record delivered recipients: %s\"", env->id,
		    strerror(errno));
		return;
	}

	for (size_t i = 0; i < n; i++) {
		struct spool_rcpt *r = g[i]->r;
		if (g[i]->env_rcpt != NULL)
			continue;          /* an alias target: not a recipient of the file */
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
	if (j->fd < 0)
		close(fd);
}

void
deliver_progress_save(struct deliver_ctx *d, const struct spool_env *env, int fd, struct rcpt_result *const *g,
    size_t n)
{
	struct progress_job j = { d->h->spool, env, fd, g, n };

	coro_offload(deliver_progress_write, &j);   /* fdatasync: off the loop */
}

/* The remote recipients of res[first]'s domain (not yet tried) in one go. */
static void
deliver_group_dispatch(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env,
    int fd, struct rcpt_result **all, size_t n, size_t first)
{
	const char *domain = deliver_domain(all[first]->r->addr);
	const struct conf_route *route = conf_route_find(c, domain);
	struct rcpt_result **group = xcalloc(n, sizeof(*group));
	size_t ng = 0;

	for (size_t i = first; i < n; i++)
		if (!all[i]->attempted && strcasecmp(deliver_domain(all[i]->r->addr), domain) == 0) {
			all[i]->attempted = true;
			group[ng++] = all[i];
		}
	deliver_remote(d, c, route, domain, env, fd, group, ng);
	free(group);
}

/* Hosted mail (and a bare <Postmaster>) is delivered here; the rest goes out. */
static bool
deliver_is_local(const struct conf *c, const char *addr)
{
	const char *domain = deliver_domain(addr);
	const struct conf_route *route = domain[0] ? conf_route_find(c, domain) : NULL;

	return domain[0] == '\0' || (route != NULL && route->transport == CONF_TRANSPORT_MAILDIR);
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
			r->expired = true;
		}
		deliver_log(c, env, r, attempts);
	}
}

/* Backoff doubling from retry_min to retry_max, less up to a tenth at
 * random (never below retry_min): a burst deferred together (a site down
 * for a minute) comes back spread out, not as one wave. */
static time_t
deliver_backoff(const struct conf *c, int attempts)
{
	long long delay = c->retry_min, jitter;

	for (int i = 0; i < attempts && delay < c->retry_max; i++)
		delay *= 2;
	if (delay > c->retry_max)
		delay = c->retry_max;
	jitter = delay / 10 > 0 ? (long long)(randombytes_uniform((uint32_t)(delay / 10 + 1))) : 0;
	if (delay - jitter < c->retry_min)
		jitter = delay - c->retry_min;
	return time(NULL) + (time_t)(delay - jitter);
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
		outbox_emit(&(struct state_event){ .tenant_id = env->tenant_id, .kind = EV_HELD, .queue_id = env->id,
		    .rcpt_index = -1, .sender = env->sender, .detail = "tenant suspended", .source = "suspension" });
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

/* One attempt, shared by its steps: open and local (a worker), remote
 * (the coroutine), close (a worker). */
struct deliver_attempt {
	struct deliver_ctx     *d;
	const struct conf      *c;
	const char             *id;
	int                     attempts;
	bool                    warned;
	struct deliver_outcome *out;
	struct spool_env        env;
	bool                    parsed;
	bool                    stop;        /* nothing more to do (unreadable, held) */
	struct rcpt_result     *res;
	int                     fd;
	struct deliver_leaves   leaves;      /* hosted recipients, aliases expanded */
};

/* Expand hosted recipients and deliver their Maildirs (a worker's job). */
static void
deliver_attempt_local(struct deliver_attempt *a)
{
	for (size_t i = 0; i < a->env.nrcpts; i++)
		if (a->res[i].state == SPOOL_RCPT_PENDING && deliver_is_local(a->c, a->res[i].r->addr)) {
			a->res[i].attempted = true;
			deliver_local_expand(a->c, a->res, i, &a->leaves);
		}
	deliver_local_maildirs(a->c, &a->env, a->fd, &a->leaves);
}

/* Before a remote phase that may take long: recipients delivered into
 * their Maildirs (every leaf) are written down (synced), so a crash in it
 * does not deliver them twice. */
static void
deliver_local_progress(struct deliver_attempt *a)
{
	bool marked = false;

	for (size_t i = 0; i < a->env.nrcpts; i++) {
		bool all = false;
		if (a->res[i].state != SPOOL_RCPT_PENDING || !a->res[i].attempted)
			continue;
		for (size_t k = 0; k < a->leaves.n; k++) {
			const struct deliver_leaf *l = &a->leaves.v[k];
			if (l->rr != i)
				continue;
			all = l->kind == DELIVER_LEAF_MAILDIR && l->res.reply.code / 100 == 2;
			if (!all)
				break;
		}
		if (all && spool_rcpt_mark(a->fd, a->res[i].r, SPOOL_RCPT_DELIVERED) == 0) {
			a->res[i].r->state = SPOOL_RCPT_DELIVERED;   /* on disk: not marked again */
			marked = true;
		}
	}
	if (marked && fdatasync(a->fd) < 0)
		log_error("event=spool-error id=%s error=\"cannot record delivered recipients: %s\"", a->id,
		    strerror(errno));
}

/* Has the attempt recipients for the remote phase? */
static bool
deliver_attempt_goes_out(const struct deliver_attempt *a)
{
	for (size_t i = 0; i < a->env.nrcpts; i++)
		if (a->res[i].state == SPOOL_RCPT_PENDING && !a->res[i].attempted)
			return true;
	for (size_t i = 0; i < a->leaves.n; i++)
		if (a->leaves.v[i].kind == DELIVER_LEAF_REMOTE)
			return true;
	return false;
}

/* Open and parse the queue file, read the tenant, deliver what is local. */
static void
deliver_attempt_open(void *arg)
{
	struct deliver_attempt *a = arg;

	a->fd = spool_queue_open(a->d->h->spool, a->id, false);
	if (a->fd < 0 || spool_env_parse(a->fd, &a->env) < 0) {
		log_error("event=queue-file-unreadable id=%s error=\"%s\"", a->id,
		    a->fd < 0 ? strerror(errno) : "bad format");
		a->out->unreadable = true;
		a->stop = true;
		return;
	}
	a->parsed = true;
	a->res = deliver_results_new(&a->env);
	if (a->env.report) {
		/* a bounce or complaint for the feedback loop: read, not delivered */
		deliver_report(a->d, a->c, &a->env, a->fd, a->res);
		return;
	}
	a->out->tenant = a->env.tenant_id;
	switch (deliver_tenant_load(a->d, &a->env)) {
	case 1:
		spool_queue_touch(a->fd, SPOOL_HOLD_TENANT_MTIME);   /* why held: kept on disk */
		close(a->fd);
		a->fd = -1;
		deliver_hold(a->d, a->c, &a->env, a->attempts, a->out);
		a->stop = true;
		return;
	case -1:
		deliver_state_defer(a->res, a->env.nrcpts);
		return;
	default:
		a->out->weight = deliver_tenant_weight(a->d);
		deliver_attempt_local(a);
	}
	if (deliver_attempt_goes_out(a)) {
		deliver_local_progress(a);
		/* Signed here, off the loop; then the file is closed: a delivery
		 * waiting for its site or its peer holds no descriptor (the
		 * content is opened only while it is sent). */
		deliver_dkim_prefix(a->d, a->c, &a->env, a->fd);
		close(a->fd);
		a->fd = -1;
	}
}

/* The recipients that go out: pending remote ones and remote alias targets. */
static void
deliver_attempt_remote(struct deliver_attempt *a)
{
	size_t n = 0, max = a->env.nrcpts + a->leaves.n;
	struct rcpt_result **all = xcalloc(max ? max : 1, sizeof(*all));

	for (size_t i = 0; i < a->env.nrcpts; i++)
		if (a->res[i].state == SPOOL_RCPT_PENDING && !a->res[i].attempted)
			all[n++] = &a->res[i];
	for (size_t i = 0; i < a->leaves.n; i++)
		if (a->leaves.v[i].kind == DELIVER_LEAF_REMOTE) {
			/* pointers into the leaves only now: the array no longer grows */
			a->leaves.v[i].sr.addr = a->leaves.v[i].addr;
			a->leaves.v[i].res.r = &a->leaves.v[i].sr;
			a->leaves.v[i].res.attempted = false;
			all[n++] = &a->leaves.v[i].res;
		}
	for (size_t i = 0; i < n; i++) {
		bool more = false;
		if (all[i]->attempted)
			continue;
		deliver_group_dispatch(a->d, a->c, &a->env, a->fd, all, n, i);
		for (size_t j = i + 1; j < n && !more; j++)
			more = !all[j]->attempted;
		if (more)    /* a crash in a later transaction must not send these again */
			deliver_progress_save(a->d, &a->env, a->fd, all, n);
	}
	free(all);
}

/* Did every recipient wait for a suspended site, and nothing else happen? */
static bool
deliver_all_suspended(const struct deliver_attempt *a)
{
	bool any = false;

	if (a->leaves.n > 0)
		return false;
	for (size_t i = 0; i < a->env.nrcpts; i++) {
		if (!a->res[i].attempted)
			continue;
		if (!a->res[i].suspended)
			return false;
		any = true;
	}
	return any;
}

/* Record the outcomes, notify, finish or reschedule (a worker's job). */
static void
deliver_attempt_close(void *arg)
{
	struct deliver_attempt *a = arg;

	if (!a->stop && deliver_all_suspended(a)) {
		/* Not an attempt: the operator suspended the site. The message
		 * waits in the queue manager, untouched (no log line, no backoff). */
		a->out->not_tried = true;
		a->out->ndeferred = 1;
		for (size_t i = 0; i < a->env.nrcpts; i++)
			if (a->res[i].suspended) {
				snprintf(a->out->last_error, sizeof(a->out->last_error), "%d %.245s",
				    a->res[i].reply.code, a->res[i].reply.text);
				break;
			}
	} else if (!a->stop && a->fd < 0 && (a->fd = spool_queue_open(a->d->h->spool, a->id, false)) < 0) {
		/* cannot record: the attempt leaves no trace and is made again */
		log_error("event=spool-error id=%s error=\"cannot reopen to record the outcome: %s\"", a->id,
		    strerror(errno));
		a->out->ndeferred = 1;
		a->out->next_try = time(NULL) + a->c->retry_min;
		snprintf(a->out->last_error, sizeof(a->out->last_error), "451 4.3.0 queue file unavailable");
	} else if (!a->stop) {
		deliver_local_merge(a->res, &a->leaves);
		deliver_outcomes(a->c, &a->env, a->res, a->env.nrcpts, a->attempts);
		deliver_finish(a->d, a->c, &a->env, a->fd, a->res, a->env.nrcpts, a->attempts, a->warned, a->out);
		/* after finish: a failure whose notification could not be queued is
		 * pending again, and is counted when it is final */
		deliver_feedback_outcomes(a->d, a->c, &a->env, a->attempts, a->res, a->env.nrcpts);
	}
	if (!a->stop) {
		for (size_t i = 0; i < a->env.nrcpts && a->out->ndeferred > 0; i++)
			if (a->res[i].state == SPOOL_RCPT_PENDING) {
				snprintf(a->out->domain, sizeof(a->out->domain), "%s", deliver_domain(a->res[i].r->addr));
				break;
			}
	}
	deliver_dkim_reset(a->d);
	deliver_leaves_free(&a->leaves);
	free(a->res);
	if (a->parsed)
		spool_env_free(&a->env);
	if (a->fd >= 0)
		close(a->fd);
}

void
deliver_message(struct deliver_ctx *d, const char *id, int attempts, bool warned,
    struct deliver_outcome *out)
{
	struct server_snap *snap = server_snap_get(d->h->snaps);
	struct deliver_attempt a = { .d = d, .c = snap->conf, .id = id, .attempts = attempts,
	    .warned = warned, .out = out, .fd = -1 };

	memset(out, 0, sizeof(*out));
	coro_offload(deliver_attempt_open, &a);
	if (!a.stop)
		deliver_attempt_remote(&a);
	coro_offload(deliver_attempt_close, &a);
	server_snap_put(snap);
}
