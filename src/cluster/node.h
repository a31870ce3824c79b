/*
 * node.h - this ferryd as a node of a cluster: its row in the state
 * database's nodes table (name, version, start time, heartbeat, queue size,
 * listeners), written by a heartbeat thread every NODE_HEARTBEAT_SECONDS,
 * and read back by `ferryctl cluster status`. With SQLite state the
 * "cluster" is the one node; with PostgreSQL every node sharing the
 * database shows up.
 *
 * The heartbeat is information, never a gate: a database error is logged
 * once per outage and retried at the next tick; ferryd carries on.
 * SECURITY: the row holds nothing secret (listen addresses as configured).
 * Node names come from the configuration; readers still clean them before
 * a terminal sees them (another node wrote them).
 */
#ifndef FERRY_CLUSTER_NODE_H
#define FERRY_CLUSTER_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define NODE_HEARTBEAT_SECONDS 5
/* A node whose heartbeat is older than this is shown down (3 ticks). */
#define NODE_UP_SECONDS        15
#define NODE_NAME_MAX          64     /* STATE_NAME_MAX */
#define NODE_VERSION_MAX       32
#define NODE_LISTEN_MAX        1024

struct conf;
struct qmgr;
struct state;
struct node;

/* One row of the nodes table. queue_recipients is -1: not counted (the
 * queue manager keeps messages, not recipients, in memory). */
struct node_row {
	char      name[NODE_NAME_MAX + 1];
	char      version[NODE_VERSION_MAX + 1];
	long long started, heartbeat;      /* Unix times */
	long long queue_messages, queue_recipients;
	char      listen[NODE_LISTEN_MAX + 1];
};

/* The listeners of c as one short line: "mx 127.0.0.1:2525, submission
 * 127.0.0.1:2587, http 127.0.0.1:8025" (SMTP ones first, then HTTP; cut
 * with "..." at outlen). Returns out. */
const char *node_listen_text(const struct conf *c, char *out, size_t outlen);

/* Insert or update r's row on this thread's connection to st. 0, or -1
 * with the database's reason in err. Runs on SQLite and PostgreSQL. */
int node_row_write(struct state *st, const struct node_row *r, char *err, size_t errlen);

/* Every node's row, by name, to fn. The number of rows, or -1. */
typedef void (*node_row_fn)(void *arg, const struct node_row *r);
long node_rows_read(struct state *st, node_row_fn fn, void *arg);

/* Is a node whose last heartbeat was at heartbeat up at now? A heartbeat
 * ahead of now (clocks apart) counts as fresh. */
bool node_is_up(long long heartbeat, time_t now);

/* Start the heartbeat: one row written now, then every
 * NODE_HEARTBEAT_SECONDS, with q's counts (q may be NULL: 0 messages).
 * Logs event=node-started. NULL when the thread cannot start. */
struct node *node_heartbeat_start(struct state *st, struct qmgr *q, const struct conf *c);
/* Stop the thread (its connection closes with it). NULL is fine. */
void node_heartbeat_stop(struct node *n);

#endif
