/*
 * counters_take.c - micro-benchmark of one message's counter take, for
 * bench/counters.sh: the six windows a tenant's key counts at the end of
 * DATA (tenant and key, per minute, hour and day; tenant_send.c) taken in
 * one counters_take, by THREADS threads at once, TAKES each, against the
 * local backend (a state database) or a Redis server. Limits are high
 * enough never to refuse, so every take does the whole work.
 * Usage: bench_counters_take local:DB|redis://... THREADS TAKES
 * Prints: "BACKEND threads=T takes=N secs=S takes/s=R us/take=U".
 * Trusts: its arguments (a benchmark tool, not installed).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "state/counters_redis.h"
#include "state/state.h"

struct bench_thread {
	struct counters *c;
	int              id;
	long             takes;
	long             failed;
};

static double
bench_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Each thread a tenant key of its own under one tenant, as sessions of
 * one tenant's several API keys. */
static void *
bench_run(void *arg)
{
	struct bench_thread *t = arg;
	static const int periods[3] = { 60, 3600, 86400 };
	struct counter_spec s[6];
	struct counter_deny d;

	for (int i = 0; i < 6; i++) {
		snprintf(s[i].key, sizeof(s[i].key), i < 3 ? "t:1" : "k:%d", t->id);
		s[i].period = periods[i % 3];
		s[i].limit = 1000000000000LL;
	}
	for (long i = 0; i < t->takes; i++)
		if (counters_take(t->c, s, 6, 1, time(NULL), &d) != 0)
			t->failed++;
	return NULL;
}

static struct counters *
bench_open(const char *backend)
{
	char err[512];
	struct counters *c;

	if (strncmp(backend, "local:", 6) == 0) {
		struct state *st = state_open(backend + 6, err, sizeof(err));   /* the schema */
		if (st == NULL) {
			fprintf(stderr, "bench_counters_take: %s\n", err);
			return NULL;
		}
		state_close(st);
		c = counters_local_open(backend + 6, err, sizeof(err));
	} else
		c = counters_redis_open(backend, false, err, sizeof(err));
	if (c == NULL)
		fprintf(stderr, "bench_counters_take: %s\n", err);
	return c;
}

int
main(int argc, char **argv)
{
	struct bench_thread *t;
	pthread_t *th;
	struct counters *c;
	long failed = 0;
	int threads;
	long takes;
	double t0, secs;

	if (argc != 4 || (threads = atoi(argv[2])) < 1 || threads > 256 || (takes = atol(argv[3])) < 1) {
		fprintf(stderr, "usage: bench_counters_take local:DB|redis://... THREADS TAKES\n");
		return 2;
	}
	if ((c = bench_open(argv[1])) == NULL)
		return 1;
	t = calloc((size_t)threads, sizeof(*t));
	th = calloc((size_t)threads, sizeof(*th));
	if (t == NULL || th == NULL)
		return 1;
	t0 = bench_clock();
	for (int i = 0; i < threads; i++) {
		t[i] = (struct bench_thread){ .c = c, .id = i + 1, .takes = takes };
		if (pthread_create(&th[i], NULL, bench_run, &t[i]) != 0)
			return 1;
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		failed += t[i].failed;
	}
	secs = bench_clock() - t0;
	counters_close(c);
	if (failed > 0) {
		fprintf(stderr, "bench_counters_take: %ld takes failed or were refused\n", failed);
		return 1;
	}
	printf("%s threads=%d takes=%ld secs=%.3f takes/s=%.0f us/take=%.2f\n",
	    strncmp(argv[1], "local:", 6) == 0 ? "local" : "redis", threads, takes * threads, secs,
	    (double)(takes * threads) / secs, secs * 1e6 / (double)(takes * threads) * threads);
	free(t);
	free(th);
	return 0;
}
