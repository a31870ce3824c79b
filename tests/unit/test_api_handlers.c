/*
 * test_api_handlers.c - the HTTP API's handlers for suppressions, domains,
 * the account, tenants, keys and the queue (src/http/api_handlers.h),
 * called directly with hand-made requests against a real state database
 * in a temporary directory (or a fresh PostgreSQL schema under
 * FERRY_TEST_PG, state_fixture.h) and a queue manager without delivery threads
 * over a real spool: success, bad input (400), unknown names (404),
 * conflicts (409), and that a tenant never sees or changes another's data.
 * No network: the domain check asks a DNS server address nothing listens
 * on, so every DNS finding is a failure, as it must be.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <pthread.h>
#include <sys/queue.h>

#include "conf_text.h"
#include "spool_wait.h"
#include "delivery/deliver.h"
#include "http/api_handlers.h"
#include "queue/qmgr.h"
#include "spool/spool.h"
#include "state/state.h"
#include "state/state_admin.h"
#include "state/suppress.h"

#include "state_fixture.h"

/* ---- fixture ---- */

struct fx {
	char            dir[64], path[128], err[512];
	struct state   *st;
	struct conf    *conf;
	struct spool   *spool;
	struct qmgr    *qmgr;
	struct api_env  env;
	long long       acme, globex;
	char            qid[SPOOL_ID_LEN + 1];   /* a message of acme in the queue */
	struct evkeyvalq query;
	struct api_resp rp;
};

/* One durable message of tenant acme in queue/. */
static void
fx_message(struct fx *fx)
{
	struct spool_msg *m = spool_msg_create(fx->spool, fx->qid);
	char tenant[32];

	assert_non_null(m);
	snprintf(tenant, sizeof(tenant), "%lld", fx->acme);
	assert_int_equal(spool_rec_str(m, SPOOL_REC_TIME, "1700000000"), 0);
	assert_int_equal(spool_rec_str(m, SPOOL_REC_SENDER, "al\xffice@acme.test"), 0);
	assert_int_equal(spool_rec_str(m, SPOOL_REC_RCPT, "x@remote.test"), 0);
	assert_int_equal(spool_rec_str(m, SPOOL_REC_TENANT, tenant), 0);
	assert_int_equal(spool_msg_content_begin(m), 0);
	assert_int_equal(spool_msg_write(m, "Subject: t\r\n\r\nbody\r\n", 20), 0);
	spool_wait_commit(m);
}

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct state_tenant t;

	assert_non_null(fx);
	state_fixture_mkdtemp(fx->dir, sizeof(fx->dir), "api");
	fx->st = state_fixture_open(fx->dir, fx->path, sizeof(fx->path), fx->err, sizeof(fx->err));
	assert_non_null(fx->conf = conf_text("hostname mx.ferry.test\ndns_servers 127.0.0.1:9\n"
	    "dns_timeout 1\noutbound_source 127.0.0.1\n", fx->err, sizeof(fx->err)));
	assert_int_equal(state_tenant_add(fx->st, "acme", NULL, "bounce.acme.test", fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(state_tenant_add(fx->st, "globex", NULL, NULL, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(state_tenant_by_name(fx->st, "acme", &t), 1);
	fx->acme = t.id;
	assert_int_equal(state_tenant_by_name(fx->st, "globex", &t), 1);
	fx->globex = t.id;
	fx->spool = spool_open(fx->dir, (uid_t)-1, (gid_t)-1, false, fx->err, sizeof(fx->err));
	assert_non_null(fx->spool);
	assert_int_equal(spool_committer_start(fx->spool), 0);
	fx_message(fx);
	fx->qmgr = qmgr_new(&(struct deliver_handles){ .spool = fx->spool });
	assert_int_equal(qmgr_load(fx->qmgr), 1);    /* no qmgr_start: it stays "ready" */
	fx->env = (struct api_env){ .st = fx->st, .c = fx->conf, .spool = fx->spool, .qmgr = fx->qmgr };
	TAILQ_INIT(&fx->query);
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;

	json_decref(fx->rp.json);
	evhttp_clear_headers(&fx->query);
	qmgr_free(fx->qmgr);
	spool_committer_stop(fx->spool);
	spool_close(fx->spool);
	state_close(fx->st);
	conf_free(fx->conf);
	state_fixture_rmdir(fx->dir);
	free(fx);
	return 0;
}

/* Call fn as the listener would: method, path, the route's params (NULL
 * ended), a query string ("" none), a body (NULL none), acting for tenant
 * (0: the admin without ?tenant=). Returns the status; fx->rp.json the body. */
static int
call(struct fx *fx, api_handler_fn fn, const char *method, const char *query, const char *body,
    long long tenant, const char *p0, const char *p1)
{
	struct api_req r = { 0 };
	struct state_tenant t = { 0 };

	json_decref(fx->rp.json);
	memset(&fx->rp, 0, sizeof(fx->rp));
	fx->rp.status = 200;
	evhttp_clear_headers(&fx->query);
	assert_int_equal(evhttp_parse_query_str(query, &fx->query), 0);
	if (tenant != 0)
		assert_int_equal(state_tenant_by_id(fx->st, tenant, &t), 1);
	r.method = method;
	r.path = "/v1/test";
	r.params[0] = p0;
	r.params[1] = p1;
	r.nparams = p1 != NULL ? 2 : p0 != NULL ? 1 : 0;
	r.query = &fx->query;
	r.content_type = body != NULL ? "application/json" : "";
	r.body = (const unsigned char *)body;
	r.body_len = body != NULL ? strlen(body) : 0;
	r.admin = tenant == 0;
	r.tenant_id = tenant;
	r.tenant = t.name;
	r.client_ip = "127.0.0.1";
	r.env = &fx->env;
	fn(&r, &fx->rp);
	assert_non_null(fx->rp.json);
	return fx->rp.status;
}

/* The error code of the reply ("" when it is not an error). */
static const char *
err_code(const struct fx *fx)
{
	const char *c = json_string_value(json_object_get(json_object_get(fx->rp.json, "error"), "code"));

	return c != NULL ? c : "";
}

static json_t *
get(const struct fx *fx, const char *key)
{
	return json_object_get(fx->rp.json, key);
}

/* ---- suppressions ---- */

static void
test_suppress_add_list_get_del(void **state)
{
	struct fx *fx = *state;
	json_t *rows;

	assert_int_equal(call(fx, api_suppressions_add, "POST", "", "{\"addresses\": [\"B@Example.test\","
	    " \"a@example.test\", \"c@example.test\"], \"reason\": \"complaint\", \"expires\": 3600,"
	    " \"cause\": \"api test\"}", fx->acme, NULL, NULL), 201);
	rows = get(fx, "suppressions");
	assert_int_equal(json_array_size(rows), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "address")),
	    "b@example.test");
	assert_true(json_is_string(json_object_get(json_array_get(rows, 0), "expires")));

	/* pages of two: the cursor is the last address */
	assert_int_equal(call(fx, api_suppressions_list, "GET", "limit=2", NULL, fx->acme, NULL, NULL), 200);
	rows = get(fx, "suppressions");
	assert_int_equal(json_array_size(rows), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "address")),
	    "a@example.test");
	assert_string_equal(json_string_value(get(fx, "next_cursor")), "b@example.test");
	assert_int_equal(call(fx, api_suppressions_list, "GET", "limit=2&cursor=b@example.test", NULL,
	    fx->acme, NULL, NULL), 200);
	assert_int_equal(json_array_size(get(fx, "suppressions")), 1);
	assert_true(json_is_null(get(fx, "next_cursor")));
	assert_int_equal(call(fx, api_suppressions_list, "GET", "reason=manual", NULL, fx->acme, NULL,
	    NULL), 200);
	assert_int_equal(json_array_size(get(fx, "suppressions")), 0);

	assert_int_equal(call(fx, api_suppression_get, "GET", "", NULL, fx->acme, "A@EXAMPLE.test.", NULL),
	    200);
	assert_string_equal(json_string_value(get(fx, "reason")), "complaint");
	assert_string_equal(json_string_value(get(fx, "cause")), "api test");
	assert_int_equal(call(fx, api_suppression_del, "DELETE", "", NULL, fx->acme, "a@example.test",
	    NULL), 200);
	assert_int_equal(call(fx, api_suppression_del, "DELETE", "", NULL, fx->acme, "a@example.test",
	    NULL), 404);
	assert_int_equal(call(fx, api_suppression_get, "GET", "", NULL, fx->acme, "a@example.test", NULL),
	    404);
	assert_string_equal(err_code(fx), "not_found");
}

static void
test_suppress_bad_input(void **state)
{
	struct fx *fx = *state;
	static const char *const bodies[] = {
		"{}",                                             /* no address */
		"{\"address\": \"a@x.test\", \"addresses\": [\"b@x.test\"]}",   /* both */
		"{\"address\": 5}",
		"{\"addresses\": []}",
		"{\"address\": \"no-at-sign\"}",
		"{\"address\": \"a b@x.test\"}",
		"{\"address\": \"a@-bad-.test\"}",
		"{\"address\": \"a@x.test\", \"reason\": \"spam\"}",
		"{\"address\": \"a@x.test\", \"expires\": -1}",
		"{\"address\": \"a@x.test\", \"expires\": \"1d\"}",
		"{\"address\": \"a@x.test\", \"cause\": \"two\\nlines\"}",
		"{\"addresses\": [\"ok@x.test\", 7]}",
	};

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		assert_int_equal(call(fx, api_suppressions_add, "POST", "", bodies[i], fx->acme, NULL, NULL),
		    400);
		assert_string_equal(err_code(fx), "bad_request");
	}
	assert_int_equal(call(fx, api_suppressions_add, "POST", "", "[1,", fx->acme, NULL, NULL), 400);
	assert_string_equal(err_code(fx), "bad_json");
	/* nothing of the refused bodies was stored, not even the valid first address */
	assert_int_equal(state_suppression_count(fx->st, fx->acme, NULL), 0);
	assert_int_equal(call(fx, api_suppressions_list, "GET", "limit=0", NULL, fx->acme, NULL, NULL), 400);
	assert_int_equal(call(fx, api_suppressions_list, "GET", "limit=1001", NULL, fx->acme, NULL, NULL),
	    400);
	assert_int_equal(call(fx, api_suppressions_list, "GET", "reason=x", NULL, fx->acme, NULL, NULL), 400);
	assert_int_equal(call(fx, api_suppression_get, "GET", "", NULL, fx->acme, "nonsense", NULL), 400);
	/* the admin must say which tenant it acts for */
	assert_int_equal(call(fx, api_suppressions_list, "GET", "", NULL, 0, NULL, NULL), 400);
}

static void
test_suppress_scoped(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(call(fx, api_suppressions_add, "POST", "", "{\"address\": \"x@shared.test\"}",
	    fx->acme, NULL, NULL), 201);
	/* globex sees nothing of acme's list and cannot remove from it */
	assert_int_equal(call(fx, api_suppressions_list, "GET", "", NULL, fx->globex, NULL, NULL), 200);
	assert_int_equal(json_array_size(get(fx, "suppressions")), 0);
	assert_int_equal(call(fx, api_suppression_get, "GET", "", NULL, fx->globex, "x@shared.test", NULL),
	    404);
	assert_int_equal(call(fx, api_suppression_del, "DELETE", "", NULL, fx->globex, "x@shared.test",
	    NULL), 404);
	assert_int_equal(call(fx, api_suppression_get, "GET", "", NULL, fx->acme, "x@shared.test", NULL), 200);
	assert_string_equal(json_string_value(get(fx, "reason")), "manual");
	assert_true(json_is_null(get(fx, "expires")));
}

/* ---- account ---- */

static void
test_account(void **state)
{
	struct fx *fx = *state;
	struct state_limits l = { 10, -1, -1, 5 };

	assert_int_equal(state_tenant_limit(fx->st, "acme", &l, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(call(fx, api_account_get, "GET", "", NULL, fx->acme, NULL, NULL), 200);
	assert_string_equal(json_string_value(get(fx, "name")), "acme");
	assert_string_equal(json_string_value(get(fx, "status")), "active");
	assert_string_equal(json_string_value(get(fx, "bounce_domain")), "bounce.acme.test");
	assert_int_equal(json_integer_value(json_object_get(get(fx, "limits"), "per_minute")), 10);
	assert_int_equal(json_integer_value(json_object_get(get(fx, "limits"), "rcpts")), 5);
	assert_non_null(json_object_get(json_object_get(get(fx, "reputation"), "24h"), "sent"));
	assert_string_equal(json_string_value(json_object_get(get(fx, "enforcement"), "state")), "none");
	assert_non_null(json_object_get(get(fx, "usage"), "hour"));
	/* the other tenant's account is its own */
	assert_int_equal(call(fx, api_account_get, "GET", "", NULL, fx->globex, NULL, NULL), 200);
	assert_string_equal(json_string_value(get(fx, "name")), "globex");
	assert_int_equal(json_integer_value(json_object_get(get(fx, "limits"), "per_minute")), 0);
	assert_int_equal(call(fx, api_account_get, "GET", "", NULL, 0, NULL, NULL), 400);
}

/* ---- domains ---- */

static void
test_domains(void **state)
{
	struct fx *fx = *state;
	json_t *recs, *chk;
	bool dkim = false, bounce_mx = false;
	size_t i;
	json_t *v;

	assert_int_equal(state_domain_add_keys(fx->st, "acme", "acme.test", false, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(call(fx, api_domains_list, "GET", "", NULL, fx->acme, NULL, NULL), 200);
	assert_int_equal(json_array_size(get(fx, "domains")), 1);
	assert_int_equal(json_array_size(json_object_get(json_array_get(get(fx, "domains"), 0),
	    "selectors")), 2);
	assert_int_equal(call(fx, api_domains_list, "GET", "", NULL, fx->globex, NULL, NULL), 200);
	assert_int_equal(json_array_size(get(fx, "domains")), 0);

	assert_int_equal(call(fx, api_domain_get, "GET", "check=0", NULL, fx->acme, "ACME.test", NULL), 200);
	recs = get(fx, "records");
	json_array_foreach(recs, i, v) {
		const char *purpose = json_string_value(json_object_get(v, "purpose"));
		const char *value = json_string_value(json_object_get(v, "value"));
		if (strcmp(purpose, "dkim") == 0 && strncmp(value, "v=DKIM1; k=", 11) == 0)
			dkim = true;
		if (strcmp(purpose, "bounce-mx") == 0 && strcmp(value, "10 mx.ferry.test.") == 0)
			bounce_mx = true;
		if (strcmp(purpose, "spf") == 0)
			assert_string_equal(value, "v=spf1 ip4:127.0.0.1 -all");
	}
	assert_true(dkim);
	assert_true(bounce_mx);
	assert_true(json_is_null(get(fx, "check")));

	/* the check runs against a DNS server that does not answer: not ok */
	assert_int_equal(call(fx, api_domain_get, "GET", "", NULL, fx->acme, "acme.test", NULL), 200);
	chk = get(fx, "check");
	assert_true(json_is_object(chk));
	assert_false(json_is_true(json_object_get(chk, "ok")));
	assert_true(json_array_size(json_object_get(chk, "findings")) >= 4);

	/* another tenant's domain is as unknown as a domain nobody has */
	assert_int_equal(call(fx, api_domain_get, "GET", "check=0", NULL, fx->globex, "acme.test", NULL), 404);
	assert_int_equal(call(fx, api_domain_get, "GET", "check=0", NULL, fx->acme, "none.test", NULL), 404);
	assert_int_equal(call(fx, api_domain_get, "GET", "check=0", NULL, fx->acme, "bad..name", NULL), 400);
}

/* ---- tenants and keys ---- */

static void
test_tenants(void **state)
{
	struct fx *fx = *state;
	struct state_tenant t;

	assert_int_equal(call(fx, api_tenants_list, "GET", "", NULL, 0, NULL, NULL), 200);
	assert_int_equal(json_array_size(get(fx, "tenants")), 2);
	assert_int_equal(call(fx, api_tenants_add, "POST", "", "{\"name\": \"initech\"}", 0, NULL, NULL), 201);
	assert_string_equal(json_string_value(get(fx, "name")), "initech");
	assert_string_equal(fx->rp.location, "/v1/tenants/initech");
	assert_int_equal(call(fx, api_tenants_add, "POST", "", "{\"name\": \"initech\"}", 0, NULL, NULL), 409);
	assert_int_equal(call(fx, api_tenants_add, "POST", "", "{\"name\": \"in itech\"}", 0, NULL, NULL), 400);
	assert_int_equal(call(fx, api_tenants_add, "POST", "", "{\"name\": \"x\", \"pool\": \"nope\"}", 0,
	    NULL, NULL), 400);
	assert_int_equal(call(fx, api_tenants_add, "POST", "", "{}", 0, NULL, NULL), 400);
	assert_int_equal(call(fx, api_tenant_get, "GET", "", NULL, 0, "initech", NULL), 200);
	assert_true(json_is_array(get(fx, "keys")));
	assert_int_equal(call(fx, api_tenant_get, "GET", "", NULL, 0, "nobody", NULL), 404);
	assert_int_equal(call(fx, api_tenant_get, "GET", "", NULL, 0, "../etc", NULL), 404);

	/* suspend and resume write what ferryctl writes */
	assert_int_equal(call(fx, api_tenant_suspend, "POST", "", "{\"reason\": \"abuse desk\"}", 0, "acme",
	    NULL), 200);
	assert_string_equal(json_string_value(get(fx, "status")), "suspended");
	assert_int_equal(state_tenant_by_name(fx->st, "acme", &t), 1);
	assert_true(t.suspended);
	assert_int_equal(call(fx, api_tenant_suspend, "POST", "", "{\"reason\": \"a\\nb\"}", 0, "acme",
	    NULL), 400);
	assert_int_equal(call(fx, api_tenant_suspend, "POST", "", NULL, 0, "nobody", NULL), 404);
	assert_int_equal(call(fx, api_tenant_resume, "POST", "", NULL, 0, "acme", NULL), 200);
	assert_string_equal(json_string_value(get(fx, "status")), "active");
	assert_int_equal(json_integer_value(get(fx, "released")), 0);
	assert_int_equal(state_tenant_by_name(fx->st, "acme", &t), 1);
	assert_false(t.suspended);
	assert_int_equal(call(fx, api_tenant_resume, "POST", "", NULL, 0, "nobody", NULL), 404);
}

static void
test_keys(void **state)
{
	struct fx *fx = *state;
	struct state_ident id;
	char key[STATE_KEY_TEXT_MAX + 1], prefix[STATE_KEY_PREFIX_LEN + 1], *dump;

	assert_int_equal(call(fx, api_keys_add, "POST", "", "{\"label\": \"ci\"}", 0, "globex", NULL), 201);
	snprintf(key, sizeof(key), "%s", json_string_value(get(fx, "key")));
	snprintf(prefix, sizeof(prefix), "%s", json_string_value(get(fx, "prefix")));
	assert_int_equal(strncmp(key, prefix, strlen(prefix)), 0);
	/* the key works, for globex */
	assert_int_equal(state_auth(fx->st, "apikey", key, strlen(key), &id), 1);
	assert_int_equal(id.tenant_id, fx->globex);

	/* listing shows the prefix and never the key */
	assert_int_equal(call(fx, api_keys_list, "GET", "", NULL, 0, "globex", NULL), 200);
	assert_int_equal(json_array_size(get(fx, "keys")), 1);
	dump = json_dumps(fx->rp.json, 0);
	assert_non_null(strstr(dump, prefix));
	assert_null(strstr(dump, key + STATE_KEY_PREFIX_LEN + 1));
	free(dump);
	assert_int_equal(call(fx, api_tenant_get, "GET", "", NULL, 0, "globex", NULL), 200);
	dump = json_dumps(fx->rp.json, 0);
	assert_null(strstr(dump, key + STATE_KEY_PREFIX_LEN + 1));
	free(dump);
	assert_int_equal(call(fx, api_keys_list, "GET", "", NULL, 0, "acme", NULL), 200);
	assert_int_equal(json_array_size(get(fx, "keys")), 0);

	/* another tenant's prefix is unknown to this one */
	assert_int_equal(call(fx, api_key_del, "DELETE", "", NULL, 0, "acme", prefix), 404);
	assert_int_equal(call(fx, api_key_del, "DELETE", "", NULL, 0, "globex", prefix), 200);
	assert_int_equal(state_auth(fx->st, "apikey", key, strlen(key), &id), 0);
	assert_int_equal(call(fx, api_key_del, "DELETE", "", NULL, 0, "globex", prefix), 409);
	assert_int_equal(call(fx, api_key_del, "DELETE", "", NULL, 0, "globex", "fy_000000000000"), 404);
	assert_int_equal(call(fx, api_keys_add, "POST", "", "{\"label\": 3}", 0, "globex", NULL), 400);
	assert_int_equal(call(fx, api_keys_add, "POST", "", NULL, 0, "nobody", NULL), 404);
}

/* ---- queue ---- */

static void
test_queue(void **state)
{
	struct fx *fx = *state;
	json_t *m, *tenants;
	char q[64];

	assert_int_equal(call(fx, api_queue_summary, "GET", "", NULL, 0, NULL, NULL), 200);
	assert_int_equal(json_integer_value(json_object_get(get(fx, "total"), "ready")), 1);
	tenants = get(fx, "tenants");
	assert_int_equal(json_array_size(tenants), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(tenants, 0), "tenant")), "acme");

	assert_int_equal(call(fx, api_queue_list, "GET", "", NULL, 0, NULL, NULL), 200);
	assert_int_equal(json_array_size(get(fx, "messages")), 1);
	m = json_array_get(get(fx, "messages"), 0);
	assert_string_equal(json_string_value(json_object_get(m, "id")), fx->qid);
	/* the sender's invalid octet is replaced, not the field lost */
	assert_string_equal(json_string_value(json_object_get(m, "sender")), "al?ice@acme.test");
	assert_int_equal(call(fx, api_queue_list, "GET", "tenant=globex", NULL, 0, NULL, NULL), 200);
	assert_int_equal(json_array_size(get(fx, "messages")), 0);
	assert_int_equal(call(fx, api_queue_list, "GET", "held=1", NULL, 0, NULL, NULL), 200);
	assert_int_equal(json_array_size(get(fx, "messages")), 0);
	snprintf(q, sizeof(q), "cursor=%s", fx->qid);
	assert_int_equal(call(fx, api_queue_list, "GET", q, NULL, 0, NULL, NULL), 200);
	assert_int_equal(json_array_size(get(fx, "messages")), 0);
	assert_int_equal(call(fx, api_queue_list, "GET", "tenant=nobody", NULL, 0, NULL, NULL), 404);
	assert_int_equal(call(fx, api_queue_list, "GET", "held=maybe", NULL, 0, NULL, NULL), 400);
	assert_int_equal(call(fx, api_queue_list, "GET", "domain=remote.test", NULL, 0, NULL, NULL), 200);
	assert_int_equal(json_array_size(get(fx, "messages")), 1);
	assert_int_equal(call(fx, api_queue_list, "GET", "domain=other.test", NULL, 0, NULL, NULL), 200);
	assert_int_equal(json_array_size(get(fx, "messages")), 0);
	/* no delivery engine: no message has gone to a site yet */
	assert_int_equal(call(fx, api_queue_list, "GET", "site=remote.test", NULL, 0, NULL, NULL), 200);
	assert_int_equal(json_array_size(get(fx, "messages")), 0);
	assert_int_equal(call(fx, api_queue_list, "GET", "site=a%20b", NULL, 0, NULL, NULL), 400);

	assert_int_equal(call(fx, api_queue_show, "GET", "", NULL, 0, fx->qid, NULL), 200);
	assert_string_equal(json_string_value(json_array_get(get(fx, "recipients"), 0)),
	    "x@remote.test");
	assert_non_null(get(fx, "envelope"));
	assert_int_equal(call(fx, api_queue_show, "GET", "", NULL, 0, "0000000000000000", NULL), 404);
	assert_int_equal(call(fx, api_queue_show, "GET", "", NULL, 0, "../../etc/passwd", NULL), 400);

	assert_int_equal(call(fx, api_queue_hold, "POST", "", NULL, 0, fx->qid, NULL), 200);
	assert_string_equal(json_string_value(get(fx, "state")), "hold");
	assert_int_equal(call(fx, api_queue_hold, "POST", "", NULL, 0, fx->qid, NULL), 409);
	assert_int_equal(call(fx, api_queue_list, "GET", "held=1", NULL, 0, NULL, NULL), 200);
	assert_int_equal(json_array_size(get(fx, "messages")), 1);
	assert_int_equal(call(fx, api_queue_release, "POST", "", NULL, 0, fx->qid, NULL), 200);
	assert_string_equal(json_string_value(get(fx, "state")), "ready");
	assert_int_equal(call(fx, api_queue_release, "POST", "", NULL, 0, fx->qid, NULL), 409);
	assert_string_equal(err_code(fx), "conflict");
	assert_int_equal(call(fx, api_queue_release, "POST", "", NULL, 0, "0000000000000000", NULL), 404);

	/* without a queue manager: 503, not a crash */
	fx->env.qmgr = NULL;
	assert_int_equal(call(fx, api_queue_summary, "GET", "", NULL, 0, NULL, NULL), 503);
	fx->env.qmgr = fx->qmgr;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_suppress_add_list_get_del, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_suppress_bad_input, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_suppress_scoped, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_account, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_domains, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_tenants, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_keys, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_queue, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
