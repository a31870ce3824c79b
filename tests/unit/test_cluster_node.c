/*
 * test_cluster_node.c - the nodes table (src/cluster/node_store.c) on a
 * fresh SQLite state: a row written, replaced whole by the next write,
 * another node's row left alone, rows read back by name; the listeners'
 * text (node.c) in order and cut with "..." when long; up or down by age.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster/node.h"
#include "conf_text.h"
#include "state/state.h"

struct fx {
	char          dir[64];
	char          path[128];
	struct state *st;
};

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char err[512];

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/ferry-node.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/ferry.db", fx->dir);
	fx->st = state_open(fx->path, err, sizeof(err));
	assert_non_null(fx->st);
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;
	char cmd[160];

	state_close(fx->st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

struct rows {
	struct node_row r[4];
	int             n;
};

static void
rows_add(void *arg, const struct node_row *r)
{
	struct rows *rs = arg;

	assert_true(rs->n < 4);
	rs->r[rs->n++] = *r;
}

static struct node_row
row_make(const char *name, long long heartbeat, long long messages)
{
	struct node_row r = { .started = 1000, .heartbeat = heartbeat, .queue_messages = messages,
	    .queue_recipients = -1 };

	snprintf(r.name, sizeof(r.name), "%s", name);
	snprintf(r.version, sizeof(r.version), "0.1.0");
	snprintf(r.listen, sizeof(r.listen), "mx 127.0.0.1:25");
	return r;
}

static void
test_rows_written_and_replaced(void **state)
{
	struct fx *fx = *state;
	struct node_row a = row_make("node-b", 2000, 3), b = row_make("node-a", 2001, 0);
	struct rows rs = { .n = 0 };
	char err[256];

	assert_int_equal(node_rows_read(fx->st, rows_add, &rs), 0);
	assert_int_equal(node_row_write(fx->st, &a, err, sizeof(err)), 0);
	assert_int_equal(node_row_write(fx->st, &b, err, sizeof(err)), 0);
	/* node-b beats again after a restart: every column is the new one */
	a = row_make("node-b", 2005, 7);
	a.started = 2004;
	a.queue_recipients = 9;
	snprintf(a.version, sizeof(a.version), "0.2.0");
	snprintf(a.listen, sizeof(a.listen), "submission 127.0.0.1:587");
	assert_int_equal(node_row_write(fx->st, &a, err, sizeof(err)), 0);

	assert_int_equal(node_rows_read(fx->st, rows_add, &rs), 2);
	assert_string_equal(rs.r[0].name, "node-a");       /* by name */
	assert_int_equal(rs.r[0].heartbeat, 2001);
	assert_int_equal(rs.r[0].queue_recipients, -1);
	assert_string_equal(rs.r[1].name, "node-b");
	assert_string_equal(rs.r[1].version, "0.2.0");
	assert_int_equal(rs.r[1].started, 2004);
	assert_int_equal(rs.r[1].heartbeat, 2005);
	assert_int_equal(rs.r[1].queue_messages, 7);
	assert_int_equal(rs.r[1].queue_recipients, 9);
	assert_string_equal(rs.r[1].listen, "submission 127.0.0.1:587");
}

static void
test_listen_text(void **state)
{
	char err[512], out[NODE_LISTEN_MAX + 1], small[40];
	struct conf *c = conf_text("spool_dir /tmp/ferry-node-spool\n"
	    "listen mx 127.0.0.1:2525\nlisten submission 127.0.0.1:2587\n"
	    "listen http 127.0.0.1:8025\n", err, sizeof(err));

	(void)state;
	assert_non_null(c);
	node_listen_text(c, out, sizeof(out));
	assert_true(strncmp(out, "mx 127.0.0.1:2525, submission 127.0.0.1:2587", 44) == 0);
	/* SMTP listeners first (the local socket among them), HTTP last */
	assert_string_equal(out + strlen(out) - strlen(", http 127.0.0.1:8025"), ", http 127.0.0.1:8025");
	/* too long for the buffer: cut, and the cut said */
	node_listen_text(c, small, sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_string_equal(small + sizeof(small) - 4, "...");
	assert_true(strncmp(small, "mx 127.0.0.1:2525, submission", 29) == 0);
	conf_free(c);
}

static void
test_up_by_age(void **state)
{
	(void)state;
	assert_true(node_is_up(1000, 1000));
	assert_true(node_is_up(1000, 1000 + NODE_UP_SECONDS));
	assert_false(node_is_up(1000, 1000 + NODE_UP_SECONDS + 1));
	assert_true(node_is_up(1010, 1000));          /* its clock ahead of ours */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rows_written_and_replaced, fx_setup, fx_teardown),
		cmocka_unit_test(test_listen_text),
		cmocka_unit_test(test_up_by_age),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
