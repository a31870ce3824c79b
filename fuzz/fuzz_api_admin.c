/*
 * fuzz_api_admin.c - libFuzzer target for the JSON bodies of the API's
 * suppression, tenant, key and suspension handlers (src/http/api_suppress.c,
 * api_tenants.c) against a real state database in a temporary directory
 * (made once per process). The first octet picks the handler, the rest is
 * the body. Invariants: the reply is JSON with a status the endpoint
 * documents (never 5xx: the database does not fail here); an error reply
 * carries {"error": {"status", "code", "message"}} with the same status; a
 * stored suppression's address is in its stored form (parsing it again
 * gives itself); nothing crashes or leaks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/api_handlers.h"
#include "state/state.h"
#include "state/state_admin.h"
#include "state/suppress.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static struct state  *fz_st;
static struct api_env fz_env;
static long long      fz_tenant;
static char           fz_dir[] = "/tmp/ferry-fuzz-api.XXXXXX";

/* At exit: the database and its directory go. */
static void
fz_remove(void)
{
	static const char *const files[] = { "ferry.db", "ferry.db-wal", "ferry.db-shm" };
	char path[64];

	state_close(fz_st);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", fz_dir, files[i]);
		unlink(path);
	}
	rmdir(fz_dir);
}

static void
fz_open(void)
{
	char path[64], err[512];
	struct state_tenant t;

	CHECK(mkdtemp(fz_dir) != NULL);
	atexit(fz_remove);
	snprintf(path, sizeof(path), "%s/ferry.db", fz_dir);
	CHECK((fz_st = state_open(path, err, sizeof(err))) != NULL);
	CHECK(state_tenant_add(fz_st, "acme", NULL, NULL, err, sizeof(err)) == 0);
	CHECK(state_tenant_by_name(fz_st, "acme", &t) == 1);
	fz_tenant = t.id;
	fz_env.st = fz_st;
}

static void
fz_check_reply(const struct api_resp *rp)
{
	json_t *e = json_object_get(rp->json, "error");

	CHECK(rp->json != NULL);
	CHECK(rp->status == 200 || rp->status == 201 || rp->status == 400 || rp->status == 404 ||
	    rp->status == 409 || rp->status == 415);
	if (rp->status >= 400) {
		CHECK(json_is_object(e));
		CHECK(json_integer_value(json_object_get(e, "status")) == rp->status);
		CHECK(json_is_string(json_object_get(e, "code")));
		CHECK(json_is_string(json_object_get(e, "message")));
	}
}

/* Every stored suppression in the reply is in its stored form. */
static void
fz_check_suppressions(const struct api_resp *rp)
{
	char again[SUPPRESS_ADDR_MAX + 1];
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(rp->json, "suppressions"), i, v) {
		const char *a = json_string_value(json_object_get(v, "address"));
		CHECK(a != NULL && suppress_addr_parse(a, again) == NULL && strcmp(a, again) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const api_handler_fn fns[] = { api_suppressions_add, api_tenants_add, api_keys_add,
	    api_tenant_suspend };
	struct api_req r = { 0 };
	struct api_resp rp = { 0 };
	api_handler_fn fn;

	if (size < 1)
		return 0;
	if (fz_st == NULL)
		fz_open();
	fn = fns[data[0] % (sizeof(fns) / sizeof(fns[0]))];
	r.method = "POST";
	r.path = "/v1/fuzz";
	r.params[0] = "acme";
	r.nparams = 1;
	r.content_type = "application/json";
	r.body = data + 1;
	r.body_len = size - 1;
	r.admin = fn != api_suppressions_add;
	r.tenant_id = r.admin ? 0 : fz_tenant;
	r.tenant = r.admin ? "" : "acme";
	r.client_ip = "127.0.0.1";
	r.env = &fz_env;
	rp.status = 200;
	fn(&r, &rp);
	fz_check_reply(&rp);
	if (fn == api_suppressions_add && rp.status == 201)
		fz_check_suppressions(&rp);
	json_decref(rp.json);
	free(rp.raw);
	return 0;
}
