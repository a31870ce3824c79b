/*
 * ctl_cluster.c - `ferryctl cluster status [--json]`: the ferryd nodes
 * sharing this state database (src/cluster/node.h), each up or down by its
 * heartbeat, with its version, start time, queue size and listeners. Read
 * straight from the state database (no ferryd needed): one node with
 * SQLite state, every node of a cluster with PostgreSQL.
 * SECURITY: run by the administrator; names and listener text were written
 * by other nodes and are cleaned of control octets before a terminal sees
 * them.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cluster/node.h"
#include "ferryctl/ctl_state.h"

const char ctl_cluster_usage[] =
    "  cluster status [--json]               the nodes sharing the state database: up, or down with\n"
    "                                        the age of their last heartbeat; version, start time,\n"
    "                                        queued messages/recipients, listeners\n";

struct ctl_cluster_list {
	time_t  now;
	json_t *nodes;            /* --json: the array being filled; NULL: a table */
};

/* "up", or "down (last seen N s ago)". */
static const char *
ctl_cluster_state(const struct node_row *r, time_t now, char *buf, size_t size)
{
	long long age = (long long)now - r->heartbeat;

	if (node_is_up(r->heartbeat, now))
		return "up";
	snprintf(buf, size, "down (last seen %lld s ago)", age);
	return buf;
}

static void
ctl_cluster_line(const struct node_row *r, time_t now)
{
	char name[NODE_NAME_MAX + 1], version[NODE_VERSION_MAX + 1], listen[NODE_LISTEN_MAX + 1];
	char state[64], started[64], rcpts[32];

	if (r->queue_recipients < 0)
		snprintf(rcpts, sizeof(rcpts), "-");
	else
		snprintf(rcpts, sizeof(rcpts), "%lld", r->queue_recipients);
	printf("%s\t%s\t%s\t%s\t%lld\t%s\t%s\n", ctl_text_clean(r->name, name, sizeof(name)),
	    ctl_cluster_state(r, now, state, sizeof(state)),
	    r->version[0] ? ctl_text_clean(r->version, version, sizeof(version)) : "-",
	    ctl_time_text(r->started, started, sizeof(started)), r->queue_messages, rcpts,
	    r->listen[0] ? ctl_text_clean(r->listen, listen, sizeof(listen)) : "-");
}

static json_t *
ctl_cluster_json_row(const struct node_row *r, time_t now)
{
	long long age = (long long)now - r->heartbeat;

	/* jansson checks UTF-8: a name that is not becomes JSON null */
	return json_pack("{s:o?, s:s, s:I, s:I, s:o?, s:I, s:{s:I, s:o}, s:o?}",
	    "name", json_string(r->name),
	    "state", node_is_up(r->heartbeat, now) ? "up" : "down",
	    "heartbeat", (json_int_t)r->heartbeat,
	    "last_seen_seconds", (json_int_t)(age > 0 ? age : 0),
	    "version", json_string(r->version),
	    "started", (json_int_t)r->started,
	    "queue", "messages", (json_int_t)r->queue_messages,
	    "recipients", r->queue_recipients < 0 ? json_null() : json_integer(r->queue_recipients),
	    "listen", json_string(r->listen));
}

static void
ctl_cluster_row(void *arg, const struct node_row *r)
{
	struct ctl_cluster_list *l = arg;
	json_t *j;

	if (l->nodes == NULL) {
		ctl_cluster_line(r, l->now);
		return;
	}
	if ((j = ctl_cluster_json_row(r, l->now)) != NULL)
		json_array_append_new(l->nodes, j);
}

static int
ctl_cluster_json_print(struct ctl_cluster_list *l)
{
	json_t *root = json_pack("{s:I, s:I, s:o}", "now", (json_int_t)l->now,
	    "up_within_seconds", (json_int_t)NODE_UP_SECONDS, "nodes", l->nodes);
	char *text = root != NULL ? json_dumps(root, JSON_INDENT(2)) : NULL;

	json_decref(root);
	if (text == NULL)
		return ctl_state_fail("cannot format the nodes as JSON");
	printf("%s\n", text);
	free(text);
	return CTL_EXIT_OK;
}

static int
ctl_cluster_status(struct ctl *c, struct state *unused, const struct ctl_sargs *a)
{
	struct ctl_cluster_list l = { .now = time(NULL) };
	struct state *st;
	long n;

	(void)unused;
	/* a status never creates a database (ferryd does, at start) */
	if ((st = ctl_state_open(c, false)) == NULL)
		return CTL_EXIT_ERR;
	if (a->json)
		l.nodes = json_array();
	else
		printf("NAME\tSTATE\tVERSION\tSTARTED\tMESSAGES\tRECIPIENTS\tLISTEN\n");
	n = node_rows_read(st, ctl_cluster_row, &l);
	state_close(st);
	if (n < 0) {
		json_decref(l.nodes);
		return ctl_state_fail("cannot read the nodes table");
	}
	return a->json ? ctl_cluster_json_print(&l) : CTL_EXIT_OK;
}

static const struct ctl_sub ctl_cluster_subs[] = {
	{ "status", 0, 0, CTL_O_JSON, true, ctl_cluster_status },
};

int
ctl_cluster_main(struct ctl *c, int argc, char **argv)
{
	static const struct ctl_group g = { "cluster", ctl_cluster_usage, ctl_cluster_subs,
	    sizeof(ctl_cluster_subs) / sizeof(ctl_cluster_subs[0]) };

	return ctl_group_main(c, &g, argc, argv);
}
