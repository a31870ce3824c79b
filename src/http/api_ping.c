/*
 * api_ping.c - GET /v1/ping: who the credential is ({"tenant": name or
 * null, "admin": bool}), for the dashboard's login and for clients that
 * check a key. POST /v1/ping does the same after reading a JSON object
 * body, and says which members it had: a way to test a client's JSON.
 */
#include "http/api_handlers.h"

static json_t *
api_ping_who(const struct api_req *r)
{
	return json_pack("{s:o,s:b}", "tenant", r->tenant_id != 0 ? json_string(r->tenant) : json_null(),
	    "admin", r->admin);
}

void
api_ping_get(struct api_req *r, struct api_resp *rp)
{
	api_reply(rp, 200, api_ping_who(r));
}

void
api_ping_post(struct api_req *r, struct api_resp *rp)
{
	json_t *body = api_body_json(r, rp), *who, *keys;
	const char *k;
	json_t *v;

	if (body == NULL)
		return;
	who = api_ping_who(r);
	keys = json_array();
	json_object_foreach(body, k, v)
		json_array_append_new(keys, json_string(k));
	json_object_set_new(who, "members", keys);
	json_decref(body);
	api_reply(rp, 200, who);
}
