/*
 * test_metrics.c - the metrics registry and its Prometheus text
 * (src/metrics/): every family has HELP then TYPE and its samples follow
 * it, counters end in _total, label values escaped (backslash, quote,
 * line feed; other control characters as '?'), histogram buckets
 * cumulative with _count equal to the +Inf bucket and _sum in seconds,
 * tenant names read from the state database, the tenant cap ("other"),
 * the outbox observer's counting, and exact totals from several threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "metrics/metrics.h"
#include "state/events.h"
#include "state/state.h"
#include "state/state_admin.h"

static char *
render(void)
{
	size_t len;
	char *text = metrics_render(NULL, NULL, &len);

	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	return text;
}

/* The value of the sample line that starts with exactly sample (name and
 * labels as rendered), or -1 when there is none. */
static double
sample(const char *text, const char *sample)
{
	size_t n = strlen(sample);

	for (const char *l = text; l != NULL && *l != '\0'; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, sample, n) == 0 && l[n] == ' ')
			return strtod(l + n + 1, NULL);
	return -1;
}

static int
setup(void **state)
{
	(void)state;
	metrics_reset();
	metrics_init("9.9.9", NULL);
	return 0;
}

/* Every line: a HELP, the TYPE of the same name right after it, or a
 * sample of the family last declared; nothing but printable text and LF. */
static void
test_families(void **state)
{
	char *text, *save = NULL, family[128] = "", type[32] = "", prev_help[128] = "";
	int families = 0;

	(void)state;
	metrics_conn_inbound_open(CONF_ROLE_MX);
	metrics_bounce(0, "invalid-recipient");
	text = render();
	for (const char *p = text; *p != '\0'; p++)
		assert_true(*p == '\n' || ((unsigned char)*p >= 0x20 && *p != 0x7f));
	assert_int_equal(text[strlen(text) - 1], '\n');
	for (char *l = strtok_r(text, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
		char name[128];
		if (strncmp(l, "# HELP ", 7) == 0) {
			assert_int_equal(sscanf(l + 7, "%127s", prev_help), 1);
			assert_true(strlen(l) > 8 + strlen(prev_help));   /* a text after the name */
			continue;
		}
		if (strncmp(l, "# TYPE ", 7) == 0) {
			assert_int_equal(sscanf(l + 7, "%127s %31s", family, type), 2);
			assert_string_equal(family, prev_help);
			assert_int_equal(strncmp(family, "ferry_", 6), 0);
			/* _total for counters, and only for them */
			if (strcmp(type, "counter") == 0) {
				assert_string_equal(family + strlen(family) - 6, "_total");
			} else {
				assert_true(strcmp(type, "gauge") == 0 || strcmp(type, "histogram") == 0);
				assert_null(strstr(family, "_total"));
			}
			families++;
			prev_help[0] = '\0';
			continue;
		}
		assert_int_not_equal(l[0], '#');
		assert_int_equal(sscanf(l, "%127[^{ ]", name), 1);
		if (strcmp(type, "histogram") == 0) {
			size_t n = strlen(family);
			assert_int_equal(strncmp(name, family, n), 0);
			assert_true(strcmp(name + n, "_bucket") == 0 || strcmp(name + n, "_sum") == 0 ||
			    strcmp(name + n, "_count") == 0);
		} else {
			assert_string_equal(name, family);
		}
	}
	assert_int_equal(families, 24);   /* without a queue manager: no ferry_queue_messages */
	free(text);
}

static void
test_names_and_values(void **state)
{
	char *text;

	(void)state;
	metrics_conn_inbound_open(CONF_ROLE_MX);
	metrics_conn_inbound_open(CONF_ROLE_MX);
	metrics_conn_inbound_close(CONF_ROLE_MX);
	metrics_conn_inbound_open(CONF_ROLE_SUBMISSION);
	metrics_conn_inbound_refused(CONF_ROLE_SUBMISSIONS);
	metrics_conn_outbound_open();
	metrics_tls_session(METRICS_INBOUND, "TLSv1.3");
	metrics_tls_session(METRICS_OUTBOUND, "TLSv1.2");
	metrics_tls_session(METRICS_OUTBOUND, "SSLv3");
	metrics_shaping_action("rate");
	metrics_shaping_action("something-new");
	metrics_webhook_post(true);
	metrics_webhook_post(false);
	metrics_webhook_post(false);
	metrics_tenant_add(0, MT_MESSAGES_RECEIVED, 3);
	text = render();
	assert_true(sample(text, "ferry_build_info{version=\"9.9.9\"}") == 1);
	assert_true(sample(text, "ferry_connections_inbound{listener=\"mx\"}") == 1);
	assert_true(sample(text, "ferry_connections_inbound_total{listener=\"mx\"}") == 2);
	assert_true(sample(text, "ferry_connections_inbound_total{listener=\"submission\"}") == 1);
	assert_true(sample(text, "ferry_connections_inbound{listener=\"submissions\"}") == 0);
	assert_true(sample(text, "ferry_connections_refused_total{listener=\"submissions\"}") == 1);
	assert_true(sample(text, "ferry_connections_refused_total{listener=\"mx\"}") == 0);
	assert_true(sample(text, "ferry_connections_outbound") == 1);
	assert_true(sample(text, "ferry_connections_outbound_total") == 1);
	assert_true(sample(text, "ferry_tls_sessions_total{direction=\"inbound\",version=\"TLSv1.3\"}") == 1);
	assert_true(sample(text, "ferry_tls_sessions_total{direction=\"outbound\",version=\"TLSv1.2\"}") == 1);
	assert_true(sample(text, "ferry_tls_sessions_total{direction=\"outbound\",version=\"other\"}") == 1);
	assert_true(sample(text, "ferry_shaping_actions_total{action=\"rate\"}") == 1);
	assert_true(sample(text, "ferry_shaping_actions_total{action=\"other\"}") == 1);
	assert_true(sample(text, "ferry_webhook_posts_total{result=\"ok\"}") == 1);
	assert_true(sample(text, "ferry_webhook_posts_total{result=\"failed\"}") == 2);
	assert_true(sample(text, "ferry_messages_received_total{tenant=\"\"}") == 3);
	/* no queue manager given: no queue family */
	assert_null(strstr(text, "ferry_queue_messages"));
	free(text);
}

/* Label values as the format says: \\, \", \n; other control octets '?'. */
static void
test_escaping(void **state)
{
	char *text;

	(void)state;
	metrics_bounce(0, "a\"b\\c\nd\re\x7f");
	text = render();
	assert_true(sample(text, "ferry_recipients_bounced_total{tenant=\"\",category=\"a\\\"b\\\\c\\nd?e?\"}")
	    == 1);
	free(text);
}

/* A histogram's buckets count everything at or below their bound. */
static void
test_histogram(void **state)
{
	char *text;

	(void)state;
	metrics_smtp_transaction(3000);        /* 0.003 s: le 0.005 */
	metrics_smtp_transaction(5000);        /* exactly on a bound: in it */
	metrics_smtp_transaction(700000);      /* 0.7 s: le 1 */
	metrics_smtp_transaction(4000000000u); /* past every bound: +Inf only */
	metrics_delivery_latency(0);
	metrics_delivery_latency(42);
	text = render();
	assert_true(sample(text, "ferry_smtp_transaction_seconds_bucket{le=\"0.005\"}") == 2);
	assert_true(sample(text, "ferry_smtp_transaction_seconds_bucket{le=\"0.5\"}") == 2);
	assert_true(sample(text, "ferry_smtp_transaction_seconds_bucket{le=\"1\"}") == 3);
	assert_true(sample(text, "ferry_smtp_transaction_seconds_bucket{le=\"2.5\"}") == 3);
	assert_true(sample(text, "ferry_smtp_transaction_seconds_bucket{le=\"300\"}") == 3);
	assert_true(sample(text, "ferry_smtp_transaction_seconds_bucket{le=\"+Inf\"}") == 4);
	assert_true(sample(text, "ferry_smtp_transaction_seconds_count") == 4);
	assert_true(sample(text, "ferry_smtp_transaction_seconds_sum") == 4000.708);
	assert_true(sample(text, "ferry_delivery_latency_seconds_bucket{le=\"1\"}") == 1);
	assert_true(sample(text, "ferry_delivery_latency_seconds_bucket{le=\"30\"}") == 1);
	assert_true(sample(text, "ferry_delivery_latency_seconds_bucket{le=\"60\"}") == 2);
	assert_true(sample(text, "ferry_delivery_latency_seconds_bucket{le=\"432000\"}") == 2);
	assert_true(sample(text, "ferry_delivery_latency_seconds_count") == 2);
	assert_true(sample(text, "ferry_delivery_latency_seconds_sum") == 42);
	/* buckets never decrease, in order */
	{
		double last = -1;
		for (const char *l = strstr(text, "ferry_smtp_transaction_seconds_bucket"); l != NULL &&
		    strncmp(l, "ferry_smtp_transaction_seconds_bucket", 37) == 0; l = strchr(l, '\n') + 1) {
			double v = strtod(strchr(l, ' ') + 1, NULL);
			assert_true(v >= last);
			last = v;
		}
		assert_true(last == 4);
	}
	free(text);
}

/* The outbox observer: outcomes by tenant, bounces by category, delays. */
static void
test_events(void **state)
{
	struct state_event ev = { .kind = EV_DELIVERED, .tenant_id = 0, .delay = 7, .category = "" };
	char *text;

	(void)state;
	metrics_event_note(NULL, &ev);
	metrics_event_note(NULL, &ev);
	ev.kind = EV_RECEIVED;        /* a message of two recipients */
	ev.rcpt_index = 0;
	metrics_event_note(NULL, &ev);
	ev.rcpt_index = 1;
	metrics_event_note(NULL, &ev);
	ev.kind = EV_DEFERRED;
	metrics_event_note(NULL, &ev);
	ev.kind = EV_BOUNCED;
	ev.category = "mailbox-full";
	metrics_event_note(NULL, &ev);
	ev.kind = EV_EXPIRED;
	metrics_event_note(NULL, &ev);
	ev.kind = EV_COMPLAINED;
	metrics_event_note(NULL, &ev);
	ev.kind = EV_SUPPRESSED;
	metrics_event_note(NULL, &ev);
	ev.kind = EV_UNSUBSCRIBED;
	metrics_event_note(NULL, &ev);
	ev.kind = EV_WEBHOOK_DROPPED;
	metrics_event_note(NULL, &ev);
	ev.kind = EV_SHAPING;          /* not a recipient's outcome: counted nowhere here */
	metrics_event_note(NULL, &ev);
	text = render();
	assert_true(sample(text, "ferry_recipients_delivered_total{tenant=\"\"}") == 2);
	assert_true(sample(text, "ferry_recipients_received_total{tenant=\"\"}") == 2);
	assert_true(sample(text, "ferry_messages_received_total{tenant=\"\"}") == 1);
	assert_true(sample(text, "ferry_recipients_deferred_total{tenant=\"\"}") == 1);
	assert_true(sample(text, "ferry_recipients_bounced_total{tenant=\"\",category=\"mailbox-full\"}") == 1);
	assert_true(sample(text, "ferry_recipients_expired_total{tenant=\"\"}") == 1);
	assert_true(sample(text, "ferry_complaints_total{tenant=\"\"}") == 1);
	assert_true(sample(text, "ferry_recipients_suppressed_total{tenant=\"\"}") == 1);
	assert_true(sample(text, "ferry_delivery_latency_seconds_count") == 2);
	assert_true(sample(text, "ferry_delivery_latency_seconds_sum") == 14);
	assert_true(sample(text, "ferry_unsubscribes_total{tenant=\"\"}") == 1);
	assert_true(sample(text, "ferry_webhook_batches_dropped_total{tenant=\"\"}") == 1);
	free(text);
}

/* Tenant ids become names from the state database; past the cap, "other". */
static void
test_tenants(void **state)
{
	char dir[] = "/tmp/ferry-metrics.XXXXXX", path[96], err[256], cmd[128], want[96];
	struct state_tenant t;
	struct state *st;
	char *text;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ferry.db", dir);
	assert_non_null(st = state_open(path, err, sizeof(err)));
	assert_int_equal(state_tenant_add(st, "acme", NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(state_tenant_by_name(st, "acme", &t), 1);
	metrics_init("9.9.9", st);
	metrics_tenant_add(t.id, MT_MESSAGES_RECEIVED, 5);
	metrics_tenant_add(t.id + 100, MT_MESSAGES_RECEIVED, 1);   /* no such tenant: its id */
	for (long long id = 1000; id < 1000 + METRICS_TENANTS_MAX + 10; id++)
		metrics_tenant_add(id, MT_RCPTS_DELIVERED, 1);
	text = render();
	assert_true(sample(text, "ferry_messages_received_total{tenant=\"acme\"}") == 5);
	snprintf(want, sizeof(want), "ferry_messages_received_total{tenant=\"#%lld\"}", t.id + 100);
	assert_true(sample(text, want) == 1);
	/* acme and #id took 2 of the places: 12 past the cap */
	assert_true(sample(text, "ferry_recipients_delivered_total{tenant=\"other\"}") == 12);
	assert_true(sample(text, "ferry_recipients_delivered_total{tenant=\"#1000\"}") == 1);
	/* more tenants after the cap: still "other", never a new series */
	metrics_tenant_add(99999, MT_RCPTS_DELIVERED, 1);
	free(text);
	text = render();
	assert_true(sample(text, "ferry_recipients_delivered_total{tenant=\"other\"}") == 13);
	assert_true(sample(text, "ferry_recipients_delivered_total{tenant=\"#99999\"}") == -1);
	free(text);
	metrics_init("9.9.9", NULL);
	state_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

#define THREADS 4
#define ROUNDS  20000

static void *
count_thread(void *arg)
{
	long long base = *(long long *)arg;

	for (int i = 0; i < ROUNDS; i++) {
		metrics_tenant_add(base + i % 50, MT_RCPTS_DELIVERED, 1);
		metrics_smtp_transaction(1000);
	}
	return NULL;
}

/* Several threads on the same slots lose no count. */
static void
test_threads(void **state)
{
	pthread_t th[THREADS];
	long long base = 7;
	double sum = 0;
	char *text, *save = NULL;

	(void)state;
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, count_thread, &base), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	text = render();
	assert_true(sample(text, "ferry_smtp_transaction_seconds_count") == THREADS * ROUNDS);
	for (char *l = strtok_r(text, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save))
		if (strncmp(l, "ferry_recipients_delivered_total{", 33) == 0)
			sum += strtod(strchr(l, ' ') + 1, NULL);
	assert_true(sum == THREADS * ROUNDS);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_families, setup),
		cmocka_unit_test_setup(test_names_and_values, setup),
		cmocka_unit_test_setup(test_escaping, setup),
		cmocka_unit_test_setup(test_histogram, setup),
		cmocka_unit_test_setup(test_events, setup),
		cmocka_unit_test_setup(test_tenants, setup),
		cmocka_unit_test_setup(test_threads, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
