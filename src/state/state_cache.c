/*
 * state_cache.c - the state cache's side in Redis (state_cache.h): one Lua
 * script per lookup that reads a tenant's generation and the value under
 * it, a SET with a time to live after a miss, and a script that moves the
 * generation on after each change. Bumps that fail (Redis unreachable) are
 * kept pending and retried by a thread of their own every second; until a
 * tenant's bump is through, this node reads that tenant from the database.
 * Keys carry the tenant id as a hash tag ({ID}) so that a script touching
 * one tenant's keys stays on one slot of a Redis Cluster.
 * SECURITY: trusts the Redis server the administrator named as
 * counters_redis.c does; every reply's type is checked and values go
 * through state_cache_value.c's bounded parsers.
 */
#include "state/state_cache.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "state/counters_redis.h"
#include "state/state_internal.h"
#include "util/log.h"
#include "util/xmalloc.h"

/* A generation is the server's clock in microseconds when its key was
 * made (a key lost to a restart or an eviction comes back larger than any
 * value it had, so no old entry is read under it), then +1 per bump.
 * redis.replicate_commands: TIME before a write (Redis < 7). */
#define SC_GEN_NOW "redis.replicate_commands()\n" \
	"local t = redis.call('TIME')\n" \
	"local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"

/* KEYS[1]: the tenant's generation, KEYS[2]: the epoch (every tenant's,
 * moved on after an outage); ARGV[1], ARGV[2]: the value's key before and
 * after "EPOCH.GENERATION". {that, the value or nil}. */
#define SC_GEN_FN "local function gen(k)\n" \
	"  local g = redis.call('GET', k)\n" \
	"  if not g then\n" \
	SC_GEN_NOW \
	"    g = string.format('%.0f', now)\n" \
	"    redis.call('SET', k, g)\n" \
	"  end\n" \
	"  return g\n" \
	"end\n"
static const char sc_lookup_lua[] =
	SC_GEN_FN
	"local v = gen(KEYS[2]) .. '.' .. gen(KEYS[1])\n"
	"return {v, redis.call('GET', ARGV[1] .. v .. ARGV[2])}\n";

/* API keys: KEYS[1]: the prefix's tenant (ferry:kt:PREFIX), KEYS[2]: the
 * epoch; ARGV[1]: the prefix. {} while the tenant is not known, else
 * {tenant, "EPOCH.GENERATION", the row or nil}. */
static const char sc_key_lua[] =
	SC_GEN_FN
	"local tid = redis.call('GET', KEYS[1])\n"
	"if not tid then return {} end\n"
	"local v = gen(KEYS[2]) .. '.' .. gen('ferry:gen:{' .. tid .. '}')\n"
	"return {tid, v, redis.call('GET', 'ferry:key:{' .. tid .. '}:' .. v .. ':' .. ARGV[1])}\n";

/* KEYS[1]: a generation (or the epoch), moved on: never back, never below
 * the clock. */
static const char sc_bump_lua[] =
	SC_GEN_NOW
	"local g = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
	"if g < now then g = now else g = g + 1 end\n"
	"local s = string.format('%.0f', g)\n"
	"redis.call('SET', KEYS[1], s)\n"
	"return s\n";

#define SC_EPOCH_KEY "ferry:epoch"
#define SC_GEN_MAX 48       /* "EPOCH.GENERATION" */
#define SC_RUNID_MAX 64

/* A tenant whose generation could not be moved on; seq counts the changes
 * since, so a retry that raced a newer change does not clear it. */
struct sc_pending {
	long long tenant_id;
	unsigned  seq;
};

struct state_cache {
	struct state    *st;
	struct counters *redis;
	char             lookup_sha[41], bump_sha[41], key_sha[41];
	pthread_mutex_t  mu;               /* everything below */
	pthread_cond_t   cv;
	struct sc_pending *pending;
	size_t           npending, cap;
	atomic_size_t    npending_seen;    /* npending, read without the lock */
	bool             stop;
	char             run_id[SC_RUNID_MAX];   /* the server's, as the heartbeat last saw it */
	atomic_bool      down;             /* bypassing until the epoch moved on (logged once) */
	pthread_t        thread;
};

static atomic_uint_fast64_t sc_counts[3];   /* hits, misses, bypassed */

void
state_cache_counts(uint64_t out[3])
{
	for (int i = 0; i < 3; i++)
		out[i] = atomic_load_explicit(&sc_counts[i], memory_order_relaxed);
}

static void
sc_count(int i, int n)
{
	atomic_fetch_add_explicit(&sc_counts[i], (uint_fast64_t)n, memory_order_relaxed);
}

void
state_cache_unusable(void)
{
	sc_count(0, -1);
	sc_count(1, 1);
}

static void
sc_gen_key(char *out, size_t outsz, long long tenant_id)
{
	snprintf(out, outsz, "ferry:gen:{%lld}", tenant_id);
}

/* ---- reachability ------------------------------------------------------ */

static redisReply *sc_eval_bump(struct state_cache *c, const char *key);

/* A call to Redis got a reply (ok) or none. True when a lookup's reply may
 * be used: the server answered and no outage is being recovered from. An
 * outage ends by moving the epoch on: a change whose bump was lost
 * meanwhile (this node's retry not through yet, ferryctl's given up, the
 * server restarted) then leaves no entry any lookup reads; the reply that
 * saw the server back is not used (it may predate the epoch). */
static bool
sc_reach(struct state_cache *c, bool ok)
{
	redisReply *r;
	bool moved;

	if (!ok) {
		if (!atomic_exchange(&c->down, true))
			log_warn("event=state-cache-bypass effect=\"state lookups read the database until"
			    " Redis is back\"");
		return false;
	}
	if (!atomic_load_explicit(&c->down, memory_order_acquire))
		return true;
	r = sc_eval_bump(c, SC_EPOCH_KEY);
	moved = r != NULL && r->type == REDIS_REPLY_STRING;
	if (r != NULL)
		freeReplyObject(r);
	if (moved && atomic_exchange(&c->down, false))
		log_info("event=state-cache-restored epoch_moved=yes");
	return false;
}

/* ---- generations ------------------------------------------------------- */

static redisReply *
sc_eval_bump(struct state_cache *c, const char *key)
{
	const char *argv[4] = { NULL, NULL, "1", key };

	return counters_redis_eval(c->redis, sc_bump_lua, c->bump_sha, 4, argv);
}

/* Move tenant_id's generation on: 0, or -1 (unreachable or refused). */
static int
sc_bump(struct state_cache *c, long long tenant_id)
{
	char key[64];
	redisReply *r;
	int rc;

	sc_gen_key(key, sizeof(key), tenant_id);
	r = sc_eval_bump(c, key);
	sc_reach(c, r != NULL);
	if (r == NULL)
		return -1;
	rc = r->type == REDIS_REPLY_STRING ? 0 : -1;
	if (rc < 0)
		log_error("event=state-cache-error op=bump error=\"%.200s\"",
		    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply type");
	freeReplyObject(r);
	return rc;
}

static struct sc_pending *
sc_pending_find(struct state_cache *c, long long tenant_id)
{
	for (size_t i = 0; i < c->npending; i++)
		if (c->pending[i].tenant_id == tenant_id)
			return &c->pending[i];
	return NULL;
}

/* Retry tenant_id's pending bump: true when none is pending any more. */
static bool
sc_pending_flush_one(struct state_cache *c, long long tenant_id)
{
	struct sc_pending *p;
	unsigned seq;
	bool done;

	/* a change noted while the bump was on its way may have committed
	 * after it: bump again (a few times: changes arriving that fast bump
	 * on their own thread too) */
	for (int round = 0; round < 4; round++) {
		pthread_mutex_lock(&c->mu);
		p = sc_pending_find(c, tenant_id);
		seq = p != NULL ? p->seq : 0;
		pthread_mutex_unlock(&c->mu);
		if (p == NULL)
			return true;
		if (sc_bump(c, tenant_id) != 0)
			return false;
		pthread_mutex_lock(&c->mu);
		p = sc_pending_find(c, tenant_id);
		done = p == NULL || p->seq == seq;
		if (p != NULL && done) {
			*p = c->pending[--c->npending];
			atomic_store(&c->npending_seen, c->npending);
		}
		pthread_mutex_unlock(&c->mu);
		if (done)
			return true;
	}
	return false;
}

/* The change hook: the tenant is pending first (so a lookup of it on this
 * node bypasses until the bump is through), then bumped. */
static void
sc_changed(void *arg, long long tenant_id)
{
	struct state_cache *c = arg;
	struct sc_pending *p;
	bool fresh;

	pthread_mutex_lock(&c->mu);
	fresh = (p = sc_pending_find(c, tenant_id)) == NULL;
	if (!fresh)
		p->seq++;
	else {
		if (c->npending == c->cap) {
			c->cap = c->cap != 0 ? 2 * c->cap : 16;
			c->pending = xrealloc(c->pending, c->cap * sizeof(*c->pending));
		}
		c->pending[c->npending++] = (struct sc_pending){ tenant_id, 0 };
		atomic_store(&c->npending_seen, c->npending);
	}
	pthread_mutex_unlock(&c->mu);
	/* logged once per tenant and outage, not per change */
	if (!sc_pending_flush_one(c, tenant_id) && fresh) {
		log_warn("event=state-cache-bump-failed tenant_id=%lld effect=\"retried every %d ms;"
		    " lookups of the tenant read the database here meanwhile\"", tenant_id,
		    STATE_CACHE_RETRY_MS);
	}
}

/* The server's run_id from an INFO reply into out ("" when absent). */
static void
sc_run_id(const redisReply *r, char *out, size_t outsz)
{
	const char *p = r->type == REDIS_REPLY_STRING ? r->str : NULL;
	size_t n;

	out[0] = '\0';
	if (p == NULL || (p = strstr(p, "run_id:")) == NULL)
		return;
	p += 7;
	n = strspn(p, "0123456789abcdef");
	if (n > 0 && n < outsz) {
		memcpy(out, p, n);
		out[n] = '\0';
	}
}

/* Once a second: is the server there, and the same process? A restart
 * (from a snapshot that may hold entries older than changes made since)
 * counts as an outage: the epoch moves on before lookups use the cache. */
static void
sc_heartbeat(struct state_cache *c)
{
	const char *argv[2] = { "INFO", "server" };
	redisReply *r = counters_redis_command(c->redis, 2, argv);
	char id[SC_RUNID_MAX];

	if (r == NULL) {
		sc_reach(c, false);
		return;
	}
	sc_run_id(r, id, sizeof(id));
	freeReplyObject(r);
	if (id[0] != '\0' && c->run_id[0] != '\0' && strcmp(id, c->run_id) != 0 &&
	    !atomic_exchange(&c->down, true))
		log_warn("event=state-cache-bypass reason=\"Redis restarted\"");
	if (id[0] != '\0')
		memcpy(c->run_id, id, sizeof(id));
	sc_reach(c, true);
}

/* The cache's thread: every STATE_CACHE_RETRY_MS, the heartbeat and the
 * bumps still pending. */
static void *
sc_thread(void *arg)
{
	struct state_cache *c = arg;
	struct timespec ts;
	long long ids[64];
	size_t n;

	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += STATE_CACHE_RETRY_MS / 1000;
		ts.tv_nsec += (STATE_CACHE_RETRY_MS % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&c->cv, &c->mu, &ts);
		if (c->stop)
			break;
		for (n = 0; n < c->npending && n < 64; n++)
			ids[n] = c->pending[n].tenant_id;
		pthread_mutex_unlock(&c->mu);
		sc_heartbeat(c);
		for (size_t i = 0; i < n && sc_pending_flush_one(c, ids[i]); i++)
			;
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* ---- lookups ----------------------------------------------------------- */

/* A lookup's {generation, value or nothing} (el, n elements) into slot
 * and val: 1 hit, 0 miss, -1 unusable. */
static int
sc_lookup_reply(redisReply *const *el, size_t n_el, const char *pre, const char *post, char *val,
    size_t valsz, size_t *len, struct state_cache_slot *slot)
{
	const redisReply *g, *v;
	int n;

	if (n_el < 1 || n_el > 2)
		return -1;
	g = el[0];
	v = n_el == 2 ? el[1] : NULL;
	if (g->type != REDIS_REPLY_STRING || g->len == 0 || g->len > SC_GEN_MAX ||
	    strspn(g->str, "0123456789.") != g->len)
		return -1;
	n = snprintf(slot->key, sizeof(slot->key), "%s%s%s", pre, g->str, post);
	if (n < 0 || (size_t)n >= sizeof(slot->key))
		return -1;
	slot->fill = true;
	if (v == NULL || v->type == REDIS_REPLY_NIL)
		return 0;
	if (v->type != REDIS_REPLY_STRING || v->len >= valsz)
		return -1;
	memcpy(val, v->str, v->len);
	val[v->len] = '\0';
	*len = v->len;
	slot->fill = false;
	return 1;
}

int
state_cache_get(struct state *st, const char *space, long long tenant_id, const char *item,
    char *val, size_t valsz, size_t *len, struct state_cache_slot *slot)
{
	struct state_cache *c = state_cache_of(st);
	char gen[64], pre[64], post[STATE_CACHE_KEY_MAX];
	const char *argv[7] = { NULL, NULL, "2", gen, SC_EPOCH_KEY, pre, post };
	redisReply *r;
	int rc;

	slot->fill = false;
	if (c == NULL)
		return -1;
	/* this node's own change not yet bumped: the database's answer */
	if (atomic_load_explicit(&c->npending_seen, memory_order_relaxed) > 0 &&
	    !sc_pending_flush_one(c, tenant_id)) {
		sc_count(2, 1);
		return -1;
	}
	sc_gen_key(gen, sizeof(gen), tenant_id);
	snprintf(pre, sizeof(pre), "ferry:%s:{%lld}:", space, tenant_id);
	snprintf(post, sizeof(post), ":%s", item);
	r = counters_redis_eval(c->redis, sc_lookup_lua, c->lookup_sha, 7, argv);
	if (!sc_reach(c, r != NULL)) {
		if (r != NULL)
			freeReplyObject(r);
		sc_count(2, 1);
		return -1;
	}
	rc = r->type == REDIS_REPLY_ARRAY ? sc_lookup_reply(r->element, r->elements, pre, post, val, valsz,
	    len, slot) : -1;
	if (rc < 0)
		log_error("event=state-cache-error op=lookup error=\"%.200s\"",
		    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	freeReplyObject(r);
	sc_count(rc == 1 ? 0 : rc == 0 ? 1 : 2, 1);
	return rc;
}

static bool
sc_pending_has(struct state_cache *c, long long tenant_id)
{
	bool has;

	if (atomic_load_explicit(&c->npending_seen, memory_order_relaxed) == 0)
		return false;
	pthread_mutex_lock(&c->mu);
	has = sc_pending_find(c, tenant_id) != NULL;
	pthread_mutex_unlock(&c->mu);
	return has;
}

/* The key lookup's reply: 1 hit, 0 miss, -1 no answer (counted here). */
static int
sc_key_reply(struct state_cache *c, const redisReply *r, const char *prefix, char *val, size_t valsz,
    size_t *len, struct state_cache_slot *slot)
{
	char pre[64], post[32], *end;
	const redisReply *t;
	long long tid;
	int rc;

	if (r->type != REDIS_REPLY_ARRAY)
		return -1;
	if (r->elements == 0) {     /* the prefix's tenant not learnt yet */
		sc_count(1, 1);
		return -2;
	}
	t = r->element[0];
	if (t->type != REDIS_REPLY_STRING || t->len == 0 || t->len > 18 ||
	    strspn(t->str, "0123456789") != t->len || (tid = strtoll(t->str, &end, 10)) <= 0)
		return -1;
	if (sc_pending_has(c, tid)) {     /* this node's change not through: the database */
		sc_pending_flush_one(c, tid);
		sc_count(2, 1);
		return -2;
	}
	snprintf(pre, sizeof(pre), "ferry:key:{%lld}:", tid);
	snprintf(post, sizeof(post), ":%s", prefix);
	rc = sc_lookup_reply(r->element + 1, r->elements - 1, pre, post, val, valsz, len, slot);
	if (rc >= 0)
		sc_count(rc == 1 ? 0 : 1, 1);
	return rc;
}

int
state_cache_key_get(struct state *st, const char *prefix, char *val, size_t valsz, size_t *len,
    struct state_cache_slot *slot)
{
	struct state_cache *c = state_cache_of(st);
	char kt[64];
	const char *argv[6] = { NULL, NULL, "2", kt, SC_EPOCH_KEY, prefix };
	redisReply *r;
	int rc;

	slot->fill = false;
	if (c == NULL || strlen(prefix) > STATE_KEY_PREFIX_LEN)
		return -1;
	snprintf(kt, sizeof(kt), "ferry:kt:%s", prefix);
	r = counters_redis_eval(c->redis, sc_key_lua, c->key_sha, 6, argv);
	if (!sc_reach(c, r != NULL)) {
		if (r != NULL)
			freeReplyObject(r);
		sc_count(2, 1);
		return -1;
	}
	rc = sc_key_reply(c, r, prefix, val, valsz, len, slot);
	if (rc == -1) {
		log_error("event=state-cache-error op=key error=\"%.200s\"",
		    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		sc_count(2, 1);
	}
	freeReplyObject(r);
	return rc < 0 ? -1 : rc;
}

void
state_cache_key_tenant_put(struct state *st, const char *prefix, long long tenant_id)
{
	struct state_cache *c = state_cache_of(st);
	char kt[64], tid[24];
	const char *argv[5] = { "SET", kt, tid, "EX", "86400" };
	redisReply *r;

	if (c == NULL)
		return;
	snprintf(kt, sizeof(kt), "ferry:kt:%s", prefix);
	snprintf(tid, sizeof(tid), "%lld", tenant_id);
	r = counters_redis_command(c->redis, 5, argv);
	sc_reach(c, r != NULL);
	if (r != NULL)
		freeReplyObject(r);
}

void
state_cache_put(struct state *st, const struct state_cache_slot *slot, const char *val, size_t len)
{
	struct state_cache *c = state_cache_of(st);
	char ttl[16];
	const char *argv[5] = { "SET", slot->key, val, "EX", ttl };
	redisReply *r;

	if (c == NULL || !slot->fill || len == 0 || strlen(val) != len)
		return;
	snprintf(ttl, sizeof(ttl), "%d", STATE_CACHE_TTL);
	r = counters_redis_command(c->redis, 5, argv);
	sc_reach(c, r != NULL);
	if (r != NULL)
		freeReplyObject(r);
}

/* ---- life --------------------------------------------------------------- */

struct state_cache *
state_cache_open(struct state *st, struct counters *redis)
{
	struct state_cache *c;

	if (!counters_is_redis(redis))
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->st = st;
	c->redis = redis;
	counters_redis_sha1(sc_lookup_lua, c->lookup_sha);
	counters_redis_sha1(sc_bump_lua, c->bump_sha);
	counters_redis_sha1(sc_key_lua, c->key_sha);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	sc_heartbeat(c);     /* the server's run_id from the start: a restart is seen at once */
	if (pthread_create(&c->thread, NULL, sc_thread, c) != 0) {
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mu);
		free(c);
		return NULL;
	}
	state_cache_attach(st, c);
	state_change_hook_set(st, sc_changed, c);
	log_info("event=state-cache-on ttl=%d", STATE_CACHE_TTL);
	return c;
}

void
state_cache_close(struct state_cache *c)
{
	if (c == NULL)
		return;
	state_change_hook_set(c->st, NULL, NULL);
	state_cache_attach(c->st, NULL);
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c->pending);
	free(c);
}

int
state_cache_bump_once(const char *uri, long long tenant_id)
{
	char key[64];
	const char *argv[4] = { "EVAL", sc_bump_lua, "1", key };

	sc_gen_key(key, sizeof(key), tenant_id);
	for (int attempt = 0; attempt < 5; attempt++) {
		redisReply *r = counters_redis_once(uri, 4, argv);
		bool ok = r != NULL && r->type == REDIS_REPLY_STRING;

		if (r != NULL)
			freeReplyObject(r);
		if (ok)
			return 0;
		usleep(400 * 1000);
	}
	return -1;
}
