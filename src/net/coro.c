/*
 * coro.c - coroutines on a libevent loop, and the worker pool they hand
 * blocking work to (coro.h says why and the rules).
 * Stacks are mmap'd (a guard page below, pages touched only as used) and
 * kept for reuse; switches are ucontext's, annotated for AddressSanitizer
 * so it follows each stack.
 * SECURITY: nothing here reads peer data; a stack overflow hits the guard
 * page (a crash, never silent corruption).
 */
#include "net/coro.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "util/log.h"
#include "util/xmalloc.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define CORO_ASAN 1
#define CORO_STACK (512 * 1024)     /* instrumented frames are larger */
#else
#define CORO_ASAN 0
#define CORO_STACK (128 * 1024)
#endif
#define CORO_GUARD       65536      /* more than any frame: an overflow cannot jump it */
#define CORO_STACKS_KEPT 1024       /* free stacks kept for reuse */

struct coro {
	struct coro_sched *s;
	ucontext_t   ctx;
	char        *stack;          /* usable part, above the guard page */
	void       (*fn)(void *);
	void        *arg;
	struct coro *runq_next;
	bool         queued;         /* on the run queue */
	bool         parked;
	bool         wake_pending;   /* woken while not parked */
	bool         timed_out;
	bool         done;
	struct event *timer;
	void        *asan_fake;
};

struct coro_job {
	struct coro_job *next;
	void           (*fn)(void *);
	void            *arg;
	struct coro     *co;         /* woken when done; NULL: a post to the loop */
	bool             finished;   /* set on the loop thread before co is woken */
};

struct coro_sched {
	struct event_base *base;
	struct event  *run_ev;        /* drains the run queue */
	struct event  *notify_ev;     /* eventfd: posts and finished offloads */
	int            efd;
	ucontext_t     main_ctx;
	const void    *main_bottom;   /* the loop thread's stack, for ASan */
	size_t         main_size;
	struct coro   *runq_head, *runq_tail;
	size_t         ncoros;
	char          *stacks[CORO_STACKS_KEPT];
	size_t         nstacks;
	pthread_t      loop_thread;
	bool           loop_started;
	/* worker pool */
	pthread_mutex_t lock;         /* guards jobs, done and stopping */
	pthread_cond_t  cond;
	struct coro_job *jobs, *jobs_tail;
	struct coro_job *done;        /* finished offloads and posts, for the loop */
	bool            stopping;
	pthread_t      *workers;
	int             nworkers;
};

static __thread struct coro *coro_cur;

struct coro *
coro_self(void)
{
	return coro_cur;
}

struct event_base *
coro_sched_base(struct coro_sched *s)
{
	return s->base;
}

/* ---- stacks ----------------------------------------------------------- */

static char *
coro_stack_get(struct coro_sched *s)
{
	char *base;

	if (s->nstacks > 0) {
		char *st = s->stacks[--s->nstacks];
#if CORO_ASAN
		/* frames of the coroutine that ended here may still be poisoned */
		__asan_unpoison_memory_region(st, CORO_STACK);
#endif
		return st;
	}
	base = mmap(NULL, CORO_STACK + CORO_GUARD, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	mprotect(base, CORO_GUARD, PROT_NONE);   /* the stack grows down onto it */
	return base + CORO_GUARD;
}

static void
coro_stack_put(struct coro_sched *s, char *st)
{
	if (s->nstacks < CORO_STACKS_KEPT) {
		s->stacks[s->nstacks++] = st;
		return;
	}
#if CORO_ASAN
	__asan_unpoison_memory_region(st, CORO_STACK);
#endif
	munmap(st - CORO_GUARD, CORO_STACK + CORO_GUARD);
}

/* ---- switching ---------------------------------------------------------- */

/* Loop thread -> c, back when c waits or ends. */
static void
coro_resume(struct coro *c)
{
	struct coro_sched *s = c->s;
	void *fake = NULL;

	coro_cur = c;
#if CORO_ASAN
	__sanitizer_start_switch_fiber(&fake, c->stack, CORO_STACK);
#endif
	swapcontext(&s->main_ctx, &c->ctx);
#if CORO_ASAN
	__sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
	(void)fake;
	coro_cur = NULL;
	if (c->done) {
		event_free(c->timer);
		coro_stack_put(s, c->stack);
		s->ncoros--;
		free(c);
	}
}

/* c -> the loop thread, back when someone resumes c. */
static void
coro_yield(struct coro *c)
{
	struct coro_sched *s = c->s;

#if CORO_ASAN
	__sanitizer_start_switch_fiber(c->done ? NULL : &c->asan_fake, s->main_bottom, s->main_size);
#endif
	swapcontext(&c->ctx, &s->main_ctx);
#if CORO_ASAN
	__sanitizer_finish_switch_fiber(c->asan_fake, &s->main_bottom, &s->main_size);
#endif
}

static void
coro_entry(void)
{
	struct coro *c = coro_cur;

#if CORO_ASAN
	__sanitizer_finish_switch_fiber(NULL, &c->s->main_bottom, &c->s->main_size);
#endif
	c->fn(c->arg);
	c->done = true;
	coro_yield(c);      /* never comes back: coro_resume frees c */
	abort();
}

static void
coro_runq_push(struct coro *c)
{
	struct coro_sched *s = c->s;

	if (c->queued)
		return;
	c->queued = true;
	c->runq_next = NULL;
	if (s->runq_tail != NULL)
		s->runq_tail->runq_next = c;
	else
		s->runq_head = c;
	s->runq_tail = c;
	event_active(s->run_ev, EV_READ, 0);
}

/* Resume what is runnable now; what those wake runs on the next pass. */
static void
coro_run_cb(evutil_socket_t fd, short what, void *arg)
{
	struct coro_sched *s = arg;
	struct coro *c = s->runq_head;

	(void)fd;
	(void)what;
	s->runq_head = s->runq_tail = NULL;
	while (c != NULL) {
		struct coro *next = c->runq_next;
		c->queued = false;
		coro_resume(c);
		c = next;
	}
}

int
coro_spawn(struct coro_sched *s, void (*fn)(void *), void *arg)
{
	struct coro *c = xcalloc(1, sizeof(*c));

	c->s = s;
	c->fn = fn;
	c->arg = arg;
	if ((c->stack = coro_stack_get(s)) == NULL) {
		/* out of mappings (vm.max_map_count) or memory: the caller tries later */
		log_error("event=coro-stack-failed coroutines=%zu error=\"%s\"", s->ncoros, strerror(errno));
		free(c);
		return -1;
	}
	getcontext(&c->ctx);
	c->ctx.uc_stack.ss_sp = c->stack;
	c->ctx.uc_stack.ss_size = CORO_STACK;
	c->ctx.uc_link = NULL;
	makecontext(&c->ctx, coro_entry, 0);
	c->timer = evtimer_new(s->base, NULL, NULL);
	s->ncoros++;
	/* coro_entry finds itself through coro_cur, set by coro_resume */
	coro_runq_push(c);
	return 0;
}

/* ---- waiting ------------------------------------------------------------ */

static void
coro_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct coro *c = arg;

	(void)fd;
	(void)what;
	if (!c->parked)
		return;
	c->timed_out = true;
	c->parked = false;
	coro_runq_push(c);
}

void
coro_wake(struct coro *c)
{
	if (!c->parked) {
		c->wake_pending = true;
		return;
	}
	c->parked = false;
	event_del(c->timer);
	coro_runq_push(c);
}

int
coro_park(long timeout_ms)
{
	struct coro *c = coro_cur;

	if (c == NULL)
		return -1;
	if (c->wake_pending) {
		c->wake_pending = false;
		return 0;
	}
	c->timed_out = false;
	c->parked = true;
	if (timeout_ms >= 0) {
		struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
		event_assign(c->timer, c->s->base, -1, 0, coro_timer_cb, c);
		event_add(c->timer, &tv);
	}
	coro_yield(c);
	return c->timed_out ? -1 : 0;
}

struct coro_io {
	struct coro *c;
	bool         fired;
	bool         ready;
};

static void
coro_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct coro_io *io = arg;

	(void)fd;
	io->ready = (what & (EV_READ | EV_WRITE)) != 0;
	io->fired = true;
	coro_wake(io->c);
}

int
coro_wait_fd(int fd, short what, long timeout_ms)
{
	struct coro *c = coro_cur;
	struct coro_io io = { .c = c };
	struct event *ev;

	if (c == NULL) {
		struct pollfd p = { .fd = fd, .events = (short)(((what & EV_READ) ? POLLIN : 0) |
		    ((what & EV_WRITE) ? POLLOUT : 0)) };
		int rc;
		do
			rc = poll(&p, 1, timeout_ms < 0 ? -1 : (int)timeout_ms);
		while (rc < 0 && errno == EINTR);
		if (rc == 1)
			return 0;
		errno = EAGAIN;
		return -1;
	}
	ev = event_new(c->s->base, fd, what, coro_io_cb, &io);
	if (timeout_ms >= 0) {
		struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
		event_add(ev, &tv);
	} else
		event_add(ev, NULL);
	while (!io.fired)             /* only this event ends the wait */
		coro_park(-1);
	event_free(ev);
	if (io.ready)
		return 0;
	errno = EAGAIN;
	return -1;
}

void
coro_sleep_ms(long ms)
{
	if (coro_cur == NULL) {
		struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		return;
	}
	coro_cur->wake_pending = false;
	while (coro_park(ms) == 0)
		;   /* a stray wake does not cut the sleep short */
}

/* ---- the worker pool and posts from other threads ----------------------- */

static void
coro_job_push(struct coro_sched *s, struct coro_job *j)
{
	pthread_mutex_lock(&s->lock);
	j->next = NULL;
	if (s->jobs_tail != NULL)
		s->jobs_tail->next = j;
	else
		s->jobs = j;
	s->jobs_tail = j;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/* Hand j to the loop thread (a finished offload, or a post). */
static void
coro_done_push(struct coro_sched *s, struct coro_job *j)
{
	uint64_t one = 1;

	pthread_mutex_lock(&s->lock);
	j->next = s->done;
	s->done = j;
	pthread_mutex_unlock(&s->lock);
	if (write(s->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_error("event=coro-notify-failed error=\"%s\"", strerror(errno));
}

static void *
coro_worker_main(void *arg)
{
	struct coro_sched *s = arg;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct coro_job *j;
		while (s->jobs == NULL && !s->stopping)
			pthread_cond_wait(&s->cond, &s->lock);
		if (s->stopping)
			break;     /* jobs of coroutines the stopped loop abandoned: not run */
		j = s->jobs;
		s->jobs = j->next;
		if (s->jobs == NULL)
			s->jobs_tail = NULL;
		pthread_mutex_unlock(&s->lock);
		j->fn(j->arg);
		coro_done_push(s, j);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* The loop's side of the eventfd: wake finished offloads, run posts, in
 * the order they came. */
static void
coro_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct coro_sched *s = arg;
	struct coro_job *j, *rev = NULL;
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_error("event=coro-notify-failed error=\"%s\"", strerror(errno));
	pthread_mutex_lock(&s->lock);
	j = s->done;
	s->done = NULL;
	pthread_mutex_unlock(&s->lock);
	while (j != NULL) {
		struct coro_job *next = j->next;
		j->next = rev;
		rev = j;
		j = next;
	}
	for (j = rev; j != NULL; j = rev) {
		rev = j->next;
		if (j->co != NULL) {
			j->finished = true;
			coro_wake(j->co);
			continue;         /* the job lives on the coroutine's stack */
		}
		j->fn(j->arg);
		free(j);
	}
}

void
coro_offload(void (*fn)(void *), void *arg)
{
	struct coro *c = coro_cur;
	struct coro_job j = { .fn = fn, .arg = arg, .co = c };

	if (c == NULL || c->s->nworkers == 0) {
		fn(arg);
		return;
	}
	coro_job_push(c->s, &j);
	while (!j.finished)        /* j lives here until the worker is done with it */
		coro_park(-1);
}

void
coro_sched_post(struct coro_sched *s, void (*fn)(void *), void *arg)
{
	struct coro_job *j = xcalloc(1, sizeof(*j));

	j->fn = fn;
	j->arg = arg;
	coro_done_push(s, j);
}

/* A post that the poster waits for. */
struct coro_call {
	void          (*fn)(void *);
	void           *arg;
	pthread_mutex_t lock;
	pthread_cond_t  cond;
	bool            done;
};

static void
coro_call_on_loop(void *arg)
{
	struct coro_call *c = arg;

	c->fn(c->arg);
	pthread_mutex_lock(&c->lock);
	c->done = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

void
coro_sched_call(struct coro_sched *s, void (*fn)(void *), void *arg)
{
	struct coro_call c = { .fn = fn, .arg = arg };

	pthread_mutex_init(&c.lock, NULL);
	pthread_cond_init(&c.cond, NULL);
	coro_sched_post(s, coro_call_on_loop, &c);
	pthread_mutex_lock(&c.lock);
	while (!c.done)
		pthread_cond_wait(&c.cond, &c.lock);
	pthread_mutex_unlock(&c.lock);
	pthread_mutex_destroy(&c.lock);
	pthread_cond_destroy(&c.cond);
}

/* ---- life cycle ----------------------------------------------------------- */

struct coro_sched *
coro_sched_new(int nworkers)
{
	struct coro_sched *s = xcalloc(1, sizeof(*s));

	evthread_use_pthreads();
	s->base = event_base_new();
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->base == NULL || s->efd < 0) {
		log_error("event=coro-init-failed error=\"%s\"", strerror(errno));
		abort();
	}
	s->run_ev = event_new(s->base, -1, 0, coro_run_cb, s);
	s->notify_ev = event_new(s->base, s->efd, EV_READ | EV_PERSIST, coro_notify_cb, s);
	event_add(s->notify_ev, NULL);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->workers = xcalloc((size_t)(nworkers > 0 ? nworkers : 1), sizeof(*s->workers));
	for (int i = 0; i < nworkers; i++) {
		if (pthread_create(&s->workers[i], NULL, coro_worker_main, s) != 0)
			break;
		s->nworkers++;
	}
	return s;
}

static void *
coro_loop_main(void *arg)
{
	struct coro_sched *s = arg;

	event_base_loop(s->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

int
coro_sched_start(struct coro_sched *s)
{
	if (pthread_create(&s->loop_thread, NULL, coro_loop_main, s) != 0)
		return -1;
	s->loop_started = true;
	return 0;
}

static void
coro_loop_exit(void *arg)
{
	event_base_loopbreak(arg);
}

void
coro_sched_stop(struct coro_sched *s)
{
	if (s->loop_started) {
		coro_sched_post(s, coro_loop_exit, s->base);
		pthread_join(s->loop_thread, NULL);
		s->loop_started = false;
	}
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	s->nworkers = 0;
}

void
coro_sched_free(struct coro_sched *s)
{
	if (s == NULL)
		return;
	coro_sched_stop(s);
	for (size_t i = 0; i < s->nstacks; i++)
		munmap(s->stacks[i] - CORO_GUARD, CORO_STACK + CORO_GUARD);
	event_free(s->run_ev);
	event_free(s->notify_ev);
	close(s->efd);
	event_base_free(s->base);
	free(s->workers);
	free(s);
}
