/*
 * suppress_lookup.c - micro-benchmark of the RCPT-time suppression lookup
 * (state_suppression_get) against a state database, for bench/suppress.sh.
 * The list is expected to hold u<I>@d<I % 1000>.example for I in
 * [0, COUNT) (as suppress.sh imports it); LOOKUPS random hits and as many
 * random misses (m<I>@d<I % 1000>.example) are timed separately on one
 * connection, as one ferryd thread makes them.
 * With FERRY_BENCH_REDIS=redis://... the lookups go through the state cache
 * in that Redis (src/state/state_cache.h), as ferryd's with `counters` set;
 * the first lookup of an address is a miss, the next ones hits.
 * Usage: bench_suppress_lookup DB TENANT_ID COUNT LOOKUPS [SEED]
 * Prints: "hits: N lookups, X us/lookup" and "misses: ...".
 * Trusts: its arguments (a benchmark tool, not installed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "state/counters_redis.h"
#include "state/state.h"
#include "state/state_cache.h"
#include "state/suppress.h"

static double
bench_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64*: the same sequence for a seed, cheap beside a lookup */
static unsigned long long
bench_rand(unsigned long long *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* Time n lookups of prefix<I>@d<I % 1000>.example; returns the number
 * found, or -1 on a database error. *secs: the time they took. */
static long
bench_run(struct state *st, long long tenant, char prefix, long count, long n,
    unsigned long long seed, double *secs)
{
	char addr[64];
	time_t now = time(NULL);
	long found = 0;
	double t0 = bench_clock();

	for (long i = 0; i < n; i++) {
		long k = (long)(bench_rand(&seed) % (unsigned long long)count);
		int len = snprintf(addr, sizeof(addr), "%c%ld@d%ld.example", prefix, k, k % 1000);
		int rc = state_suppression_get(st, tenant, addr, (size_t)len, now, NULL);
		if (rc < 0)
			return -1;
		found += rc;
	}
	*secs = bench_clock() - t0;
	return found;
}

int
main(int argc, char **argv)
{
	char err[512];
	struct state *st;
	struct counters *redis = NULL;
	struct state_cache *cache = NULL;
	long long tenant;
	long count, n, hits, misses;
	unsigned long long seed;
	double th, tm;

	if (argc < 5) {
		fprintf(stderr, "usage: %s DB TENANT_ID COUNT LOOKUPS [SEED]\n", argv[0]);
		return 2;
	}
	tenant = atoll(argv[2]);
	count = atol(argv[3]);
	n = atol(argv[4]);
	seed = argc > 5 ? strtoull(argv[5], NULL, 10) : 88172645463325252ULL;
	if (count <= 0 || n <= 0 || seed == 0) {
		fprintf(stderr, "%s: COUNT, LOOKUPS and SEED must be positive\n", argv[0]);
		return 2;
	}
	if ((st = state_open(argv[1], err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (getenv("FERRY_BENCH_REDIS") != NULL &&
	    ((redis = counters_redis_open(getenv("FERRY_BENCH_REDIS"), false, err, sizeof(err))) == NULL ||
	    (cache = state_cache_open(st, redis)) == NULL)) {
		fprintf(stderr, "%s: no state cache: %s\n", argv[0], err);
		return 1;
	}
	hits = bench_run(st, tenant, 'u', count, n, seed, &th);
	misses = bench_run(st, tenant, 'm', count, n, seed + 1, &tm);
	state_cache_close(cache);
	counters_close(redis);
	state_close(st);
	if (hits < 0 || misses < 0) {
		fprintf(stderr, "%s: database error\n", argv[0]);
		return 1;
	}
	printf("hits: %ld lookups, %ld found, %.2f us/lookup\n", n, hits, th * 1e6 / (double)n);
	printf("misses: %ld lookups, %ld found, %.2f us/lookup\n", n, misses, tm * 1e6 / (double)n);
	return hits == n && misses == 0 ? 0 : 1;
}
