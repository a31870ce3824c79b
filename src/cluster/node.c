/*
 * node.c - the heartbeat of this node (see node.h): a thread that writes
 * the node's row at start and every NODE_HEARTBEAT_SECONDS, on its own
 * connection to the state database (state_db on this thread).
 * A failed write is logged once per outage (event=node-heartbeat-failed),
 * its end once (event=node-heartbeat-recovered); nothing else depends on
 * it, so ferryd never stops for it.
 * Trusts: the configuration (node name, listeners); nothing from a peer.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/node.h"
#include "conf/conf.h"
#include "queue/qmgr.h"
#include "util/log.h"
#include "util/version.h"
#include "util/xmalloc.h"

struct node {
	struct state   *st;
	struct qmgr    *q;
	struct node_row row;            /* name, version, started, listen fixed at start */
	bool            failing;        /* the last write failed (logged once) */
	bool            stop;
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	pthread_t       thread;
};

/* Append "ROLE ADDRESS" for each listener; false once out of room. */
static bool
node_listen_add(char *out, size_t outlen, size_t *used, const struct conf_listener *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int k = snprintf(out + *used, outlen - *used, "%s%s %s", *used > 0 ? ", " : "",
		    conf_role_name(l[i].role), l[i].text);
		if (k < 0 || (size_t)k >= outlen - *used)
			return false;
		*used += (size_t)k;
	}
	return true;
}

const char *
node_listen_text(const struct conf *c, char *out, size_t outlen)
{
	size_t used = 0;

	if (outlen == 0)
		return out;
	out[0] = '\0';
	if (node_listen_add(out, outlen, &used, c->listeners, c->nlisteners) &&
	    node_listen_add(out, outlen, &used, c->http_listeners, c->nhttp_listeners))
		return out;
	/* cut: say so rather than show a half address as a whole one */
	if (outlen > 4)
		memcpy(out + outlen - 4, "...", 4);
	return out;
}

/* The first failure of an outage is logged; the others are the same news. */
static void
node_beat_failed(struct node *n, const char *err)
{
	char q[600];

	if (n->failing)
		return;
	n->failing = true;
	log_error("event=node-heartbeat-failed name=%s error=%s action=\"retrying every %ds\"",
	    n->row.name, log_quote(q, sizeof(q), err, strlen(err)), NODE_HEARTBEAT_SECONDS);
}

/* One beat: the row with the queue's size now. */
static void
node_beat(struct node *n)
{
	struct qmgr_state_counts qc = { 0 };
	char err[512];

	if (n->q != NULL)
		qmgr_state_count(n->q, &qc);
	n->row.heartbeat = (long long)time(NULL);
	n->row.queue_messages = qc.ready + qc.active + qc.deferred + qc.held;
	n->row.queue_recipients = -1;          /* not counted: see node.h */
	if (node_row_write(n->st, &n->row, err, sizeof(err)) != 0) {
		node_beat_failed(n, err);
		return;
	}
	if (n->failing)
		log_info("event=node-heartbeat-recovered name=%s", n->row.name);
	n->failing = false;
}

static void *
node_thread(void *arg)
{
	struct node *n = arg;
	struct timespec ts;

	node_beat(n);
	pthread_mutex_lock(&n->mu);
	while (!n->stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += NODE_HEARTBEAT_SECONDS;
		pthread_cond_timedwait(&n->cv, &n->mu, &ts);
		if (n->stop)
			break;
		pthread_mutex_unlock(&n->mu);
		node_beat(n);
		pthread_mutex_lock(&n->mu);
	}
	pthread_mutex_unlock(&n->mu);
	return NULL;   /* this thread's connection closes with it (state.c) */
}

struct node *
node_heartbeat_start(struct state *st, struct qmgr *q, const struct conf *c)
{
	struct node *n = xcalloc(1, sizeof(*n));

	n->st = st;
	n->q = q;
	snprintf(n->row.name, sizeof(n->row.name), "%s", c->node_name);
	snprintf(n->row.version, sizeof(n->row.version), "%s", FERRY_VERSION);
	n->row.started = (long long)time(NULL);
	node_listen_text(c, n->row.listen, sizeof(n->row.listen));
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cv, NULL);
	if (pthread_create(&n->thread, NULL, node_thread, n) != 0) {
		pthread_cond_destroy(&n->cv);
		pthread_mutex_destroy(&n->mu);
		free(n);
		return NULL;
	}
	log_info("event=node-started name=%s version=%s heartbeat=%ds", n->row.name, FERRY_VERSION,
	    NODE_HEARTBEAT_SECONDS);
	return n;
}

void
node_heartbeat_stop(struct node *n)
{
	if (n == NULL)
		return;
	pthread_mutex_lock(&n->mu);
	n->stop = true;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
	pthread_join(n->thread, NULL);
	pthread_cond_destroy(&n->cv);
	pthread_mutex_destroy(&n->mu);
	free(n);
}
