/*
 * counters_redis.c - the counter backend shared by several ferryd nodes:
 * each window is one Redis key, ferry:c:{KEY}:PERIOD:WINDOW_START, and a
 * take is one Lua script that checks every window given and then adds to
 * all of them or to none (Redis runs a script atomically), so a tenant
 * limited to 100 an hour gets 100 whatever node its mail reaches.
 * Connections are synchronous (hiredis) with 500 ms connect and command
 * timeouts, taken from a small pool by whichever thread counts. A lost
 * server is retried with a backoff of 100 ms doubling to 5 s; meanwhile
 * calls fail at once (counters_failure closed: take returns -1) or count
 * in memory on this node (open: counters_mem.c, drained into Redis when it
 * is back). Nodes' clocks must agree (NTP): the window is the caller's now.
 * STANDARDS: none (Redis's protocol is hiredis's business).
 * SECURITY: trusts the Redis server the administrator named (its replies
 * are still checked for their type); the password is never logged.
 */
#include "state/counters_redis.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"
#include "util/redis_uri.h"
#include "util/xmalloc.h"

#define RC_TIMEOUT_MS     500
#define RC_BACKOFF_MIN_MS 100
#define RC_BACKOFF_MAX_MS 5000
#define RC_SLACK          60      /* seconds a key outlives its window */
#define RC_IDLE_MAX       64      /* idle connections kept in the pool */
#define RC_SPECS_MAX      16      /* windows in one take (callers give up to 6) */
#define RC_KEY_MAX        (COUNTER_KEY_MAX + 48)

/* KEYS: the windows; ARGV[1]: the amount; ARGV[2i], ARGV[2i+1]: window i's
 * limit (0: none) and time to live. {0, 0}, or {i, count} of the first
 * full window (1-based), adding nothing. The time to live is set when the
 * key is made (its count then equals the amount: this script is the only
 * writer that makes keys), not at every take: a third fewer calls. */
static const char rc_take_lua[] =
	"local n = tonumber(ARGV[1])\n"
	"for i = 1, #KEYS do\n"
	"  local limit = tonumber(ARGV[2 * i])\n"
	"  if limit > 0 then\n"
	"    local used = tonumber(redis.call('GET', KEYS[i]) or '0')\n"
	"    if used + n > limit then return {i, used} end\n"
	"  end\n"
	"end\n"
	"for i = 1, #KEYS do\n"
	"  if redis.call('INCRBY', KEYS[i], n) == n then\n"
	"    redis.call('EXPIRE', KEYS[i], ARGV[2 * i + 1])\n"
	"  end\n"
	"end\n"
	"return {0, 0}\n";

/* KEYS: windows still current; ARGV[1]: the amount. Never below 0, and a
 * key that is gone (expired) is not made again. */
static const char rc_give_lua[] =
	"local n = tonumber(ARGV[1])\n"
	"for i = 1, #KEYS do\n"
	"  local used = tonumber(redis.call('GET', KEYS[i]) or '0')\n"
	"  if used > 0 then redis.call('DECRBY', KEYS[i], math.min(n, used)) end\n"
	"end\n"
	"return 0\n";

struct rc_script {
	const char *text;
	char        sha[41];     /* EVALSHA's name for it */
};

struct rc_conn {
	struct rc_conn *next;
	redisContext   *ctx;
	unsigned        gen;      /* rc->gen when connected */
};

struct rc {
	struct counters   base;
	struct redis_uri  uri;
	bool              fail_open;
	struct counters  *local;          /* fail_open: counts while Redis is unreachable */
	struct rc_script  take, give;
	pthread_mutex_t   mu;             /* everything below */
	struct rc_conn   *idle;
	size_t            nidle;
	unsigned          gen;            /* bumped by each outage: older connections are dropped */
	bool              down;           /* unreachable: calls fail fast until next_try */
	bool              probing;        /* a call is trying the server (others still fail fast) */
	long              backoff_ms;
	long long         next_try_ms, down_since_ms;
};

static long long
rc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
rc_script_init(struct rc_script *s, const char *text)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	s->text = text;
	EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha1(), NULL);
	for (unsigned i = 0; i < mdlen && i < 20; i++)
		snprintf(s->sha + 2 * i, 3, "%02x", md[i]);
}

/* ---- connections ------------------------------------------------------ */

/* One command on ctx whose reply must not be an error (AUTH, SELECT). */
static int
rc_ctx_expect_ok(redisContext *ctx, const char *what, int argc, const char **argv, char *err, size_t errlen)
{
	redisReply *r = redisCommandArgv(ctx, argc, argv, NULL);
	int rc = 0;

	if (r == NULL) {
		snprintf(err, errlen, "%s: %s", what, ctx->errstr);
		return -1;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		/* the server's words, not ours: cut, and never the password */
		snprintf(err, errlen, "%s refused: %.100s", what, r->str);
		rc = -1;
	}
	freeReplyObject(r);
	return rc;
}

/* A new connection, authenticated and on its database; NULL + err. *refused
 * says the server answered but refused (a configuration error). */
static redisContext *
rc_ctx_connect(const struct redis_uri *u, char *err, size_t errlen, bool *refused)
{
	struct timeval tv = { 0, RC_TIMEOUT_MS * 1000 };
	redisContext *ctx = redisConnectWithTimeout(u->host, u->port, tv);
	char db[16];

	*refused = false;
	if (ctx == NULL || ctx->err) {
		snprintf(err, errlen, "%s", ctx != NULL ? ctx->errstr : "out of memory");
		redisFree(ctx);
		return NULL;
	}
	redisSetTimeout(ctx, tv);
	if (u->password[0] != '\0' || u->user[0] != '\0') {
		const char *argv[3] = { "AUTH", u->user, u->password };
		bool user = u->user[0] != '\0';     /* AUTH user password: an ACL user */
		if (!user)
			argv[1] = u->password;
		if (rc_ctx_expect_ok(ctx, "AUTH", user ? 3 : 2, argv, err, errlen) < 0)
			goto fail;
	}
	if (u->db != 0) {
		const char *argv[2] = { "SELECT", db };
		snprintf(db, sizeof(db), "%d", u->db);
		if (rc_ctx_expect_ok(ctx, "SELECT", 2, argv, err, errlen) < 0)
			goto fail;
	}
	return ctx;
fail:
	*refused = ctx->err == 0;
	redisFree(ctx);
	return NULL;
}

/* Redis is unreachable (why): note the outage, once, and back off. */
static void
rc_outage(struct rc *rc, const char *why)
{
	struct rc_conn *c, *next;
	long long now = rc_now_ms();

	pthread_mutex_lock(&rc->mu);
	if (!rc->down) {
		rc->down = true;
		rc->down_since_ms = now;
		rc->backoff_ms = RC_BACKOFF_MIN_MS;
		rc->gen++;
		if (rc->fail_open)
			log_warn("event=counters-fallback counters=%s error=\"%.200s\" effect=\"counting on this"
			    " node only until Redis is back\"", rc->uri.shown, why);
		else
			log_error("event=counters-unavailable counters=%s error=\"%.200s\" effect=\"tenant mail"
			    " refused with 451 4.3.0 until Redis is back\"", rc->uri.shown, why);
	} else if ((rc->backoff_ms *= 2) > RC_BACKOFF_MAX_MS)
		rc->backoff_ms = RC_BACKOFF_MAX_MS;
	rc->next_try_ms = now + rc->backoff_ms;
	rc->probing = false;
	c = rc->idle;
	rc->idle = NULL;
	rc->nidle = 0;
	pthread_mutex_unlock(&rc->mu);
	for (; c != NULL; c = next) {
		next = c->next;
		redisFree(c->ctx);
		free(c);
	}
}

/* What this node counted on its own while Redis was away goes into Redis,
 * so the shared windows hold every node's messages. */
static void rc_local_drain(struct rc *rc);

/* A reply came: an outage, if any, is over. */
static void
rc_reachable(struct rc *rc)
{
	bool was_down;
	long long since;

	pthread_mutex_lock(&rc->mu);
	was_down = rc->down;
	since = rc->down_since_ms;
	rc->down = rc->probing = false;
	rc->backoff_ms = 0;
	pthread_mutex_unlock(&rc->mu);
	if (!was_down)
		return;
	log_info("event=counters-recovered counters=%s down_ms=%lld", rc->uri.shown, rc_now_ms() - since);
	if (rc->local != NULL)
		rc_local_drain(rc);
}

/* A connection to use, or NULL: down and backing off (fail fast), or the
 * connection failed (an outage). *reused: it had carried commands before. */
static struct rc_conn *
rc_conn_get(struct rc *rc, bool *reused)
{
	struct rc_conn *c;
	char err[256];
	bool refused;
	unsigned gen;

	pthread_mutex_lock(&rc->mu);
	if (rc->down && (rc->probing || rc_now_ms() < rc->next_try_ms)) {
		pthread_mutex_unlock(&rc->mu);
		return NULL;
	}
	if (rc->down)
		rc->probing = true;      /* this call tries; the others still fail fast */
	if ((c = rc->idle) != NULL) {
		rc->idle = c->next;
		rc->nidle--;
	}
	gen = rc->gen;
	pthread_mutex_unlock(&rc->mu);
	*reused = c != NULL;
	if (c != NULL)
		return c;
	c = xcalloc(1, sizeof(*c));
	c->gen = gen;
	if ((c->ctx = rc_ctx_connect(&rc->uri, err, sizeof(err), &refused)) == NULL) {
		free(c);
		rc_outage(rc, err);
		return NULL;
	}
	return c;
}

/* Back into the pool, or closed when broken, stale or too many. */
static void
rc_conn_put(struct rc *rc, struct rc_conn *c, bool broken)
{
	pthread_mutex_lock(&rc->mu);
	if (!broken && c->gen == rc->gen && rc->nidle < RC_IDLE_MAX) {
		c->next = rc->idle;
		rc->idle = c;
		rc->nidle++;
		c = NULL;
	}
	pthread_mutex_unlock(&rc->mu);
	if (c != NULL) {
		redisFree(c->ctx);
		free(c);
	}
}

/* Was the command surely not run (the connection was already dead: the
 * server restarted since it was last used)? Then it may be sent again on a
 * new connection; after a timeout it may have run, so it is not. */
static bool
rc_conn_stale(const redisContext *ctx)
{
	return ctx->err == REDIS_ERR_EOF ||
	    (ctx->err == REDIS_ERR_IO && (errno == ECONNRESET || errno == EPIPE));
}

/* One command; its reply (maybe an error reply), or NULL when Redis could
 * not be reached (an outage is noted). */
static redisReply *
rc_command(struct rc *rc, int argc, const char **argv, const size_t *lens)
{
	char err[256];

	for (int attempt = 0; attempt < 2; attempt++) {
		bool reused = false;
		struct rc_conn *c = rc_conn_get(rc, &reused);
		redisReply *r;

		if (c == NULL)
			return NULL;
		if ((r = redisCommandArgv(c->ctx, argc, argv, lens)) != NULL) {
			rc_conn_put(rc, c, false);
			rc_reachable(rc);
			return r;
		}
		snprintf(err, sizeof(err), "%s", c->ctx->errstr);
		bool again = reused && attempt == 0 && rc_conn_stale(c->ctx);
		rc_conn_put(rc, c, true);
		if (!again)
			break;
	}
	rc_outage(rc, err);
	return NULL;
}

/* EVALSHA, and EVAL when the server does not know the script (it was
 * restarted or flushed): EVAL caches it for the next EVALSHA. */
static redisReply *
rc_eval(struct rc *rc, const struct rc_script *s, int argc, const char **argv)
{
	redisReply *r;

	argv[0] = "EVALSHA";
	argv[1] = s->sha;
	r = rc_command(rc, argc, argv, NULL);
	if (r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(r);
		argv[0] = "EVAL";
		argv[1] = s->text;
		r = rc_command(rc, argc, argv, NULL);
	}
	return r;
}

/* ---- the operations ---------------------------------------------------- */

static void
rc_key(char *out, size_t outsz, const char *key, int period, time_t now)
{
	snprintf(out, outsz, "ferry:c:{%s}:%d:%lld", key, period,
	    (long long)(period > 0 ? now - now % period : 0));
}

/* A reply that is not what the script returns: a bug, or a server that
 * refused (out of memory, read-only replica): logged, and a failure. */
static void
rc_reply_bad(struct rc *rc, const char *op, const redisReply *r)
{
	log_error("event=counters-error counters=%s op=%s error=\"%.200s\"", rc->uri.shown, op,
	    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply type");
}

static int
rc_take_fallback(struct rc *rc, const struct counter_spec *specs, size_t n, long long amount,
    time_t now, struct counter_deny *deny)
{
	return rc->local != NULL ? counters_take(rc->local, specs, n, amount, now, deny) : -1;
}

static int
rc_take(struct counters *c, const struct counter_spec *specs, size_t n, long long amount, time_t now,
    struct counter_deny *deny)
{
	struct rc *rc = (struct rc *)c;
	char keys[RC_SPECS_MAX][RC_KEY_MAX], nums[2 * RC_SPECS_MAX + 1][24], nk[24];
	const char *argv[3 + 3 * RC_SPECS_MAX + 1];
	int argc = 0;
	redisReply *r;

	if (n == 0)
		return 0;
	if (n > RC_SPECS_MAX)
		return -1;
	argv[argc++] = NULL;            /* EVALSHA sha, set by rc_eval */
	argv[argc++] = NULL;
	snprintf(nk, sizeof(nk), "%zu", n);
	argv[argc++] = nk;
	for (size_t i = 0; i < n; i++) {
		rc_key(keys[i], sizeof(keys[i]), specs[i].key, specs[i].period, now);
		argv[argc++] = keys[i];
	}
	snprintf(nums[0], sizeof(nums[0]), "%lld", amount);
	argv[argc++] = nums[0];
	for (size_t i = 0; i < n; i++) {
		snprintf(nums[1 + 2 * i], sizeof(nums[0]), "%lld", specs[i].limit > 0 ? specs[i].limit : 0);
		snprintf(nums[2 + 2 * i], sizeof(nums[0]), "%d", specs[i].period + RC_SLACK);
		argv[argc++] = nums[1 + 2 * i];
		argv[argc++] = nums[2 + 2 * i];
	}
	if ((r = rc_eval(rc, &rc->take, argc, argv)) == NULL)
		return rc_take_fallback(rc, specs, n, amount, now, deny);
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_INTEGER ||
	    r->element[1]->type != REDIS_REPLY_INTEGER || r->element[0]->integer < 0 ||
	    r->element[0]->integer > (long long)n) {
		rc_reply_bad(rc, "take", r);
		freeReplyObject(r);
		return rc_take_fallback(rc, specs, n, amount, now, deny);
	}
	long long i = r->element[0]->integer;
	if (i > 0) {
		deny->index = (size_t)i - 1;
		deny->count = r->element[1]->integer;
		deny->limit = specs[i - 1].limit;
		deny->reset = specs[i - 1].period > 0 ?
		    now - now % specs[i - 1].period + specs[i - 1].period : now;
	}
	freeReplyObject(r);
	return i > 0 ? 1 : 0;
}

static void
rc_give(struct counters *c, const struct counter_spec *specs, size_t n, long long amount, time_t taken)
{
	struct rc *rc = (struct rc *)c;
	char keys[RC_SPECS_MAX][RC_KEY_MAX], num[24], nk[24];
	const char *argv[3 + RC_SPECS_MAX + 1];
	time_t now = time(NULL);
	size_t nkeys = 0;
	redisReply *r;

	if (rc->local != NULL)   /* a take counted here during an outage */
		counters_give(rc->local, specs, n, amount, taken);
	argv[0] = argv[1] = NULL;
	for (size_t i = 0; i < n && i < RC_SPECS_MAX; i++) {
		/* only into the window taken from: once it ended, the give
		 * would wrongly make room in the next one */
		if (specs[i].period > 0 && now / specs[i].period != taken / specs[i].period)
			continue;
		rc_key(keys[nkeys], sizeof(keys[nkeys]), specs[i].key, specs[i].period, taken);
		argv[3 + nkeys] = keys[nkeys];
		nkeys++;
	}
	if (nkeys == 0)
		return;
	snprintf(nk, sizeof(nk), "%zu", nkeys);
	snprintf(num, sizeof(num), "%lld", amount);
	argv[2] = nk;
	argv[3 + nkeys] = num;
	if ((r = rc_eval(rc, &rc->give, (int)(4 + nkeys), argv)) == NULL)
		return;   /* unreachable: the window keeps the message (the safe side) */
	if (r->type == REDIS_REPLY_ERROR)
		rc_reply_bad(rc, "give", r);
	freeReplyObject(r);
}

/* A GET reply as a count: 0 for none, -1 for anything but a number. */
static long long
rc_reply_count(const redisReply *r)
{
	char *end;
	long long v;

	if (r->type == REDIS_REPLY_NIL)
		return 0;
	if (r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 20)
		return -1;
	errno = 0;
	v = strtoll(r->str, &end, 10);
	return errno == 0 && *end == '\0' && v >= 0 ? v : -1;
}

static long long
rc_get(struct counters *c, const char *key, int period, time_t now)
{
	struct rc *rc = (struct rc *)c;
	char k[RC_KEY_MAX];
	const char *argv[2] = { "GET", k };
	redisReply *r;
	long long v;

	rc_key(k, sizeof(k), key, period, now);
	if ((r = rc_command(rc, 2, argv, NULL)) == NULL)
		return rc->local != NULL ? counters_get(rc->local, key, period, now) : 0;
	v = rc_reply_count(r);
	freeReplyObject(r);
	return v > 0 ? v : 0;
}

static void
rc_local_drain(struct rc *rc)
{
	size_t n = 0;
	time_t now = time(NULL);
	struct counters_mem_row *rows = counters_mem_drain(rc->local, now, &n);
	struct counter_spec spec;
	struct counter_deny deny;

	for (size_t i = 0; i < n; i++) {
		memcpy(spec.key, rows[i].key, sizeof(spec.key));
		spec.period = rows[i].period;
		spec.limit = 0;           /* counted already: added whatever the limit */
		/* (gone again: rc_take counts it back here) */
		rc_take(&rc->base, &spec, 1, rows[i].count, rows[i].window, &deny);
	}
	if (n > 0)
		log_info("event=counters-merged counters=%s windows=%zu", rc->uri.shown, n);
	free(rows);
}

static void
rc_close(struct counters *c)
{
	struct rc *rc = (struct rc *)c;
	struct rc_conn *k, *next;

	for (k = rc->idle; k != NULL; k = next) {
		next = k->next;
		redisFree(k->ctx);
		free(k);
	}
	counters_close(rc->local);
	pthread_mutex_destroy(&rc->mu);
	free(rc);
}

static const struct counters_ops rc_ops = { rc_take, rc_give, rc_get, rc_close };

struct counters *
counters_redis_open(const char *uri, bool fail_open, char *err, size_t errlen)
{
	struct rc *rc = xcalloc(1, sizeof(*rc));
	struct rc_conn *c;
	redisContext *ctx;
	char why[256];
	bool refused;

	rc->base.ops = &rc_ops;
	if (redis_uri_parse(uri, &rc->uri, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "counters: %s", why);
		free(rc);
		return NULL;
	}
	rc->fail_open = fail_open;
	rc->local = fail_open ? counters_mem_open() : NULL;
	rc_script_init(&rc->take, rc_take_lua);
	rc_script_init(&rc->give, rc_give_lua);
	pthread_mutex_init(&rc->mu, NULL);
	/* One connection now: a wrong password or database is a configuration
	 * error to stop on; a server not up yet is only an outage. */
	if ((ctx = rc_ctx_connect(&rc->uri, why, sizeof(why), &refused)) == NULL) {
		if (refused) {
			snprintf(err, errlen, "counters %s: %s", rc->uri.shown, why);
			rc_close(&rc->base);
			return NULL;
		}
		rc_outage(rc, why);
		return &rc->base;
	}
	c = xcalloc(1, sizeof(*c));
	c->ctx = ctx;
	c->gen = rc->gen;
	rc_conn_put(rc, c, false);
	log_info("event=counters-connected counters=%s failure=%s", rc->uri.shown, fail_open ? "open" : "closed");
	return &rc->base;
}

redisReply *
counters_redis_once(const char *uri, int argc, const char **argv)
{
	struct redis_uri u;
	char err[256];
	redisContext *ctx;
	redisReply *r;
	bool refused;

	if (redis_uri_parse(uri, &u, err, sizeof(err)) < 0 ||
	    (ctx = rc_ctx_connect(&u, err, sizeof(err), &refused)) == NULL)
		return NULL;
	r = redisCommandArgv(ctx, argc, argv, NULL);
	redisFree(ctx);
	return r;
}

long long
counters_redis_read(const char *uri, const char *key, int period, time_t now)
{
	char k[RC_KEY_MAX];
	const char *argv[2] = { "GET", k };
	redisReply *r;
	long long v;

	rc_key(k, sizeof(k), key, period, now);
	if ((r = counters_redis_once(uri, 2, argv)) == NULL)
		return -1;
	v = rc_reply_count(r);
	freeReplyObject(r);
	return v;
}

/* ---- the same server for the state cache (state_cache.c) ---------------- */

bool
counters_is_redis(const struct counters *c)
{
	return c != NULL && c->ops == &rc_ops;
}

void
counters_redis_sha1(const char *text, char sha[41])
{
	struct rc_script s;

	rc_script_init(&s, text);
	memcpy(sha, s.sha, sizeof(s.sha));
}

redisReply *
counters_redis_command(struct counters *c, int argc, const char **argv)
{
	return rc_command((struct rc *)c, argc, argv, NULL);
}

redisReply *
counters_redis_eval(struct counters *c, const char *text, const char *sha, int argc, const char **argv)
{
	struct rc_script s = { .text = text };

	memcpy(s.sha, sha, sizeof(s.sha));
	return rc_eval((struct rc *)c, &s, argc, argv);
}
