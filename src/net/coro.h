/*
 * coro.h - the outbound engine's scheduler: one libevent loop on its own
 * thread runs every delivery as a coroutine (its own small stack), and a
 * small pool of worker threads runs what would block the loop (spool
 * files, SQLite, fsync, DKIM signing).
 *
 * Why coroutines: an outbound SMTP transaction is a long sequence of waits
 * (DNS, connect, greeting, EHLO, STARTTLS, MAIL, RCPT, DATA, the final
 * reply). Written as a coroutine, the client keeps the plain sequential
 * form that mta_client.c and mta_tx.c have, with every wait an event of
 * the loop (coro_wait_fd), so thousands of connections cost one thread and
 * a stack each, not a thread each. Nothing else changes hands: a coroutine
 * runs only on the loop thread and only between its own waits, so code
 * between two waits needs no lock against other coroutines.
 *
 * Rules: a coroutine never holds a mutex across a wait; blocking work goes
 * through coro_offload; coro_wake and everything but coro_sched_post and
 * coro_offload are for the loop thread only. Outside a coroutine (tests,
 * ferryctl, start-up) every function falls back to its blocking form, so
 * the same client code runs in both.
 */
#ifndef FERRY_NET_CORO_H
#define FERRY_NET_CORO_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct coro;
struct coro_sched;

/* A loop with nworkers worker threads; not running until coro_sched_start. */
struct coro_sched *coro_sched_new(int nworkers);
/* Run the loop on its own thread; -1 when the thread cannot start. */
int  coro_sched_start(struct coro_sched *s);
/* Stop the loop and join every thread; coroutines still parked are left
 * where they are (their memory goes with the process). */
void coro_sched_stop(struct coro_sched *s);
void coro_sched_free(struct coro_sched *s);
struct event_base *coro_sched_base(struct coro_sched *s);

/* Run fn(arg) on the loop thread soon; callable from any thread. */
void coro_sched_post(struct coro_sched *s, void (*fn)(void *), void *arg);
/* The same, and wait until it has run (never from the loop thread). */
void coro_sched_call(struct coro_sched *s, void (*fn)(void *), void *arg);

/* Start fn(arg) as a new coroutine (loop thread only); -1 (logged) when
 * no stack can be had: fn is not run, the caller tries again later. */
int  coro_spawn(struct coro_sched *s, void (*fn)(void *), void *arg);

/* The coroutine running now, or NULL (not in a coroutine). */
struct coro *coro_self(void);

/* Wait until fd is readable (EV_READ) or writable (EV_WRITE) or
 * timeout_ms passes (< 0: no timeout). 0 when ready, -1 on timeout
 * (errno EAGAIN). Outside a coroutine: poll(2). */
int  coro_wait_fd(int fd, short what, long timeout_ms);
/* Sleep (outside a coroutine: nanosleep). */
void coro_sleep_ms(long ms);
/* Park until coro_wake(self) or timeout_ms (< 0: none): 0 woken, -1 timed out. */
int  coro_park(long timeout_ms);
/* Make a parked coroutine runnable (loop thread). A wake of a coroutine
 * that is not parked is kept for its next park. */
void coro_wake(struct coro *c);

/* Run fn(arg) on a worker thread while this coroutine waits; inline when
 * not in a coroutine. fn must not touch loop-thread state. */
void coro_offload(void (*fn)(void *), void *arg);

#endif
