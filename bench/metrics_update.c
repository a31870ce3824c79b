/*
 * metrics_update.c - bench/metrics.sh's micro-benchmark of the metrics hot
 * path (src/metrics/): nanoseconds per update of a tenant counter and per
 * histogram observation, from 1 thread and from 2 threads on the same slot
 * (the worst case: one cache line shared by both), and of the clock read
 * that times an SMTP transaction. Built by the script with cc -O2 from
 * src/metrics/metrics.c alone. Usage: metrics_update [N]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "metrics/metrics.h"

static long n_ops = 20000000;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
bench_counter(void *arg)
{
	(void)arg;
	for (long i = 0; i < n_ops; i++)
		metrics_tenant_add(42, MT_RCPTS_DELIVERED, 1);
	return NULL;
}

static void *
bench_hist(void *arg)
{
	(void)arg;
	for (long i = 0; i < n_ops; i++)
		metrics_smtp_transaction(12000);
	return NULL;
}

/* ns per operation of fn on each of nthreads threads at once */
static double
bench_run(void *(*fn)(void *), int nthreads)
{
	pthread_t th[2];
	double t0 = now_s();

	for (int i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, fn, NULL);
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	return (now_s() - t0) * 1e9 / (double)n_ops;
}

int
main(int argc, char **argv)
{
	volatile uint64_t sink = 0;
	double t0;

	if (argc > 1)
		n_ops = atol(argv[1]);
	for (int t = 1; t <= 2; t++)
		printf("tenant counter: %.1f ns, histogram: %.1f ns (%d thread%s on one slot)\n",
		    bench_run(bench_counter, t), bench_run(bench_hist, t), t, t > 1 ? "s" : "");
	t0 = now_s();
	for (long i = 0; i < n_ops; i++)
		sink += metrics_now_us();
	printf("clock: %.1f ns\n", (now_s() - t0) * 1e9 / (double)n_ops);
	return sink == 0;
}
