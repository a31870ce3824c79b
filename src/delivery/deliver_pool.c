/*
 * deliver_pool.c - where a tenant's mail leaves from and how fast: the IP
 * pool's source address (round-robin or smooth weighted round-robin), the
 * daily warm-up cap of each address, and the per-minute rate of a provider.
 * Counting goes through counters.h ("w:<ip>" per UTC day, "p:<provider>" per
 * minute) so a restart (or, later, another node) sees the same counts.
 * SECURITY: a pool the configuration lacks defers the mail; it is never
 * sent from some other address. Only configured addresses are bound.
 */
#include "delivery/deliver_internal.h"

#include <pthread.h>
#include "db/db.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/xmalloc.h"

#define POOL_RR_MAX     256     /* pools whose rotation state is kept */
#define WARMUP_DAYS_MAX 1024    /* addresses whose first day is cached */

/* Rotation state of one pool, shared by the delivery threads (pool_lock). */
struct pool_rr {
	char       name[STATE_NAME_MAX + 1];
	size_t     naddrs;
	size_t     next;          /* round-robin: where the next pick starts */
	long long *cur;           /* smooth weighted round-robin: current weights */
	long long *logged;        /* day a warm-up cap was last logged, per address */
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pool_rr pool_rrs[POOL_RR_MAX];
static size_t npool_rrs;

/* First sending day per address, read from table warmup (warmup_lock). */
struct warmup_day {
	char      addr[64];
	long long day;
};

static pthread_mutex_t warmup_lock = PTHREAD_MUTEX_INITIALIZER;
static struct warmup_day warmup_days[WARMUP_DAYS_MAX];
static size_t nwarmup_days;

time_t
deliver_next_midnight(time_t now)
{
	return (now / 86400 + 1) * 86400;
}

const struct conf_pool *
deliver_pool_of(const struct conf *c, const struct spool_env *env, const struct deliver_tenant *t,
    bool *unknown, struct mta_reply *why)
{
	const char *name = env->pool != NULL && env->pool[0] != '\0' ? env->pool : t->pool;
	const struct conf_pool *pool;

	*unknown = false;
	if (name == NULL || name[0] == '\0')
		return NULL;
	if ((pool = conf_pool_find(c, name)) != NULL && pool->naddrs > 0)
		return pool;
	*unknown = true;
	mta_reply_set(why, 451, "4.3.5 IP pool %.64s is not configured (or has no address): not sent"
	    " from any other address", name);
	log_warn("event=pool-unknown id=%s pool=%.64s reason=\"no such pool (or no address) in the"
	    " configuration; mail stays queued\"", env->id, name);
	return NULL;
}

/* The day ferryd first sent from addr (recorded now if never). */
static long long
warmup_first_day(struct state *st, const char *addr, long long today)
{
	struct db_stmt *ins = NULL, *sel = NULL;
	long long day = today;
	bool ok = false;
	struct db *db;

	pthread_mutex_lock(&warmup_lock);
	for (size_t i = 0; i < nwarmup_days; i++)
		if (strcmp(warmup_days[i].addr, addr) == 0) {
			day = warmup_days[i].day;
			pthread_mutex_unlock(&warmup_lock);
			return day;
		}
	pthread_mutex_unlock(&warmup_lock);
	if (st == NULL || (db = state_db(st)) == NULL)
		return today;
	if (db_prepare(db, "INSERT OR IGNORE INTO warmup(addr, first_day) VALUES(?1, ?2);", &ins) != DB_OK ||
	    db_prepare(db, "SELECT first_day FROM warmup WHERE addr = ?1;", &sel) != DB_OK)
		goto out;
	db_bind_text(ins, 1, addr, -1);
	db_bind_int64(ins, 2, today);
	db_bind_text(sel, 1, addr, -1);
	if (db_step(ins) != DB_DONE || db_step(sel) != DB_ROW)
		goto out;
	day = db_column_int64(sel, 0);
	ok = true;
	pthread_mutex_lock(&warmup_lock);
	if (nwarmup_days < WARMUP_DAYS_MAX && strlen(addr) < sizeof(warmup_days[0].addr)) {
		snprintf(warmup_days[nwarmup_days].addr, sizeof(warmup_days[0].addr), "%s", addr);
		warmup_days[nwarmup_days++].day = day;
	}
	pthread_mutex_unlock(&warmup_lock);
out:
	if (!ok)
		log_warn("event=warmup-day-unknown addr=%s reason=\"%s\" effect=\"today taken as day 1\"",
		    addr, db_errmsg(db));
	db_finalize(ins);
	db_finalize(sel);
	return day;
}

/* Today's cap of a (0: none). A start in the future counts as day 1. */
static long long
pool_addr_cap(struct deliver_ctx *d, const struct conf_pool_addr *a, long long today)
{
	long long start, idx;

	if (a->nwarmup == 0)
		return 0;
	start = a->warmup_start >= 0 ? a->warmup_start : warmup_first_day(d->h->state, a->addr, today);
	idx = today - start;
	if (idx < 0)
		idx = 0;
	return idx < (long long)a->nwarmup ? a->warmup[idx] : 0;
}

/* The rotation state of pool (pool_lock held); reset when its size changed. */
static struct pool_rr *
pool_rr_get(const struct conf_pool *pool)
{
	struct pool_rr *r = NULL;

	for (size_t i = 0; i < npool_rrs && r == NULL; i++)
		if (strcmp(pool_rrs[i].name, pool->name) == 0)
			r = &pool_rrs[i];
	if (r == NULL) {
		r = &pool_rrs[npool_rrs < POOL_RR_MAX ? npool_rrs++ : 0];
		free(r->cur);
		free(r->logged);
		memset(r, 0, sizeof(*r));
		snprintf(r->name, sizeof(r->name), "%s", pool->name);
	}
	if (r->naddrs != pool->naddrs) {
		free(r->cur);
		free(r->logged);
		r->naddrs = pool->naddrs;
		r->next = 0;
		r->cur = xcalloc(pool->naddrs, sizeof(*r->cur));
		r->logged = xcalloc(pool->naddrs, sizeof(*r->logged));
	}
	return r;
}

/* The next address not yet refused, by the pool's selection (pool_lock held). */
static size_t
pool_select(const struct conf_pool *pool, struct pool_rr *r, const bool *refused)
{
	size_t n = pool->naddrs, best = n;
	long long total = 0;

	if (pool->select == CONF_POOL_ROUND_ROBIN) {
		for (size_t k = 0; k < n; k++) {
			size_t i = (r->next + k) % n;
			if (!refused[i]) {
				r->next = (i + 1) % n;
				return i;
			}
		}
		return n;
	}
	/* Smooth weighted round-robin (as nginx's upstream): each address
	 * gains its weight, the largest is chosen and loses the total. */
	for (size_t i = 0; i < n; i++) {
		if (refused[i])
			continue;
		r->cur[i] += pool->addrs[i].weight;
		total += pool->addrs[i].weight;
		if (best == n || r->cur[i] > r->cur[best])
			best = i;
	}
	if (best < n)
		r->cur[best] -= total;
	return best;
}

/* Try to count one transaction on address i; 0 ok, 1 capped, -1 error. */
static int
pool_addr_take(struct deliver_ctx *d, const struct conf_pool *pool, struct pool_rr *r, size_t i,
    long long cap, time_t now, struct pool_pick *pick)
{
	long long today = (long long)(now / 86400);
	struct counter_spec spec = { .period = 86400, .limit = cap };
	struct counter_deny deny;
	int rc;

	snprintf(spec.key, sizeof(spec.key), "w:%s", pool->addrs[i].addr);
	rc = counters_take(d->h->counters, &spec, 1, 1, now, &deny);
	if (rc == 0) {
		pick->addr = &pool->addrs[i];
		pick->taken = now;
		memcpy(pick->key, spec.key, sizeof(pick->key));
	} else if (rc == 1 && r->logged[i] != today) {
		r->logged[i] = today;
		log_info("event=warmup-cap pool=%s addr=%s cap=%lld reason=\"daily warm-up cap reached;"
		    " the address sends no more today (UTC)\"", pool->name, pool->addrs[i].addr, cap);
	}
	return rc;
}

int
deliver_pool_pick(struct deliver_ctx *d, const struct conf_pool *pool, const struct spool_env *env,
    struct pool_pick *pick, struct mta_reply *why, time_t *retry_at)
{
	time_t now = time(NULL);
	long long today = (long long)(now / 86400);
	long long *caps = xcalloc(pool->naddrs, sizeof(*caps));
	bool *refused = xcalloc(pool->naddrs, sizeof(*refused));
	int rc = 1;

	memset(pick, 0, sizeof(*pick));
	for (size_t i = 0; i < pool->naddrs; i++)
		caps[i] = pool_addr_cap(d, &pool->addrs[i], today);
	pthread_mutex_lock(&pool_lock);
	struct pool_rr *r = pool_rr_get(pool);
	for (size_t tries = 0; tries < pool->naddrs && rc == 1; tries++) {
		size_t i = pool_select(pool, r, refused);
		if (i >= pool->naddrs)
			break;
		rc = pool_addr_take(d, pool, r, i, caps[i], now, pick);
		refused[i] = true;
	}
	pthread_mutex_unlock(&pool_lock);
	free(caps);
	free(refused);
	*retry_at = 0;
	if (rc == 1) {
		mta_reply_set(why, 451, "4.7.0 pool %.64s: every address reached its warm-up cap for today",
		    pool->name);
		*retry_at = deliver_next_midnight(now);
	} else if (rc < 0) {
		mta_reply_set(why, 451, "4.3.0 cannot count the warm-up of pool %.64s; will retry", pool->name);
		log_error("event=counters-failed id=%s pool=%s", env->id, pool->name);
	}
	return rc;
}

void
deliver_pool_giveback(struct deliver_ctx *d, const struct pool_pick *pick)
{
	struct counter_spec spec = { .period = 86400 };

	if (pick->addr == NULL)
		return;
	memcpy(spec.key, pick->key, sizeof(spec.key));
	counters_give(d->h->counters, &spec, 1, 1, pick->taken);
}

static void
provider_spec(const struct conf_provider *pr, struct counter_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	snprintf(spec->key, sizeof(spec->key), "p:%.80s", pr->name);
	spec->period = 60;
	spec->limit = pr->rate;
}

int
deliver_provider_take(struct deliver_ctx *d, const struct conf_provider *pr, time_t now,
    struct mta_reply *why, time_t *retry_at)
{
	struct counter_spec spec;
	struct counter_deny deny;
	int rc;

	*retry_at = 0;
	if (pr == NULL || pr->rate <= 0)
		return 0;
	provider_spec(pr, &spec);
	rc = counters_take(d->h->counters, &spec, 1, 1, now, &deny);
	if (rc == 0)
		return 0;
	if (rc == 1) {
		mta_reply_set(why, 451, "4.7.0 provider %.64s: rate limit %lld/min", pr->name, pr->rate);
		*retry_at = deny.reset > now ? deny.reset : now + 1;
	} else
		mta_reply_set(why, 451, "4.3.0 cannot count the rate of provider %.64s; will retry", pr->name);
	return -1;
}

void
deliver_provider_giveback(struct deliver_ctx *d, const struct conf_provider *pr, time_t taken)
{
	struct counter_spec spec;

	if (pr == NULL || pr->rate <= 0)
		return;
	provider_spec(pr, &spec);
	counters_give(d->h->counters, &spec, 1, 1, taken);
}
