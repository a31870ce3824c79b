/*
 * api_messages.c - POST /v1/messages: a tenant sends a message over HTTP,
 * described in JSON (built into MIME by inject_json.c) or as a raw RFC
 * 5322 message (Content-Type: message/rfc822, ?from= and ?to=a,b), queued
 * under the same rules and into the same spool as its SMTP submissions
 * (inject_queue.c). 202 {"id", "message_id", "accepted", "suppressed"}
 * comes only once the queue file is durable.
 * STANDARDS: RFC 9110 15.3.3 (202 Accepted), RFC 2046 5.2.1
 * (message/rfc822).
 * SECURITY: the tenant is the listener's authenticated one (an admin acts
 * for ?tenant=); every byte of the body is the client's and goes through
 * inject_json.h's validators. Error texts name the field, never a secret.
 */
#include "http/api.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conf/conf.h"
#include "inject/inject_json.h"
#include "inject/inject_queue.h"
#include "util/log.h"

void api_messages_post(struct api_req *r, struct api_resp *rp);

const struct api_route api_routes_messages[] = {
	{ "POST", "/v1/messages", API_AUTH_TENANT, api_messages_post },
	{ 0 },
};

static bool
api_messages_type_is(const char *ct, const char *type)
{
	size_t n = strlen(type);

	return strncasecmp(ct, type, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* The message from the body: true, or rp set to the error. */
static bool
api_messages_build(struct api_req *r, struct api_resp *rp, struct inject_msg *m)
{
	const struct conf *c = r->env->c;
	struct inject_opts o = { .hostname = c->hostname, .max_size = (size_t)c->max_message_size,
	    .max_line = (size_t)c->max_line_length };
	enum inject_status st;
	char err[512];
	json_t *req;

	if (api_messages_type_is(r->content_type, "message/rfc822"))
		st = inject_raw_build((const char *)r->body, r->body_len, api_query(r, "from"), api_query(r, "to"),
		    &o, m, err, sizeof(err));
	else {
		if ((req = api_body_json(r, rp)) == NULL)
			return false;
		st = inject_json_build(req, &o, m, err, sizeof(err));
		json_decref(req);
	}
	if (st == INJECT_TOO_BIG)
		api_error(rp, 413, "too_large", "%s", err);
	else if (st != INJECT_OK)
		api_error(rp, 400, "bad_request", "%s", err);
	return st == INJECT_OK;
}

static void
api_messages_error(struct api_req *r, struct api_resp *rp, enum inject_result res, const char *text)
{
	static const struct { int status; const char *code; } map[] = {
		[INJECT_Q_BAD] = { 400, "bad_request" },
		[INJECT_Q_FORBIDDEN] = { 403, "forbidden" },
		[INJECT_Q_SUSPENDED] = { 403, "suspended" },
		[INJECT_Q_TOO_BIG] = { 413, "too_large" },
		[INJECT_Q_LIMITED] = { 429, "rate_limited" },
		[INJECT_Q_UNAVAILABLE] = { 503, "unavailable" },
	};
	char qt[1100];

	log_info("event=api-message-refused client=%s tenant=%s status=%d reason=%s", r->client_ip, r->tenant,
	    map[res].status, log_quote(qt, sizeof(qt), text, strlen(text)));
	api_error(rp, map[res].status, map[res].code, "%s", text);
}

static json_t *
api_messages_reply(const struct inject_msg *m, const struct inject_outcome *out)
{
	json_t *acc = json_array(), *sup = json_array();

	for (size_t i = 0; i < m->nrcpts; i++)
		json_array_append_new(out->suppressed[i] ? sup : acc, json_string(m->rcpts[i]));
	return json_pack("{s:o, s:s, s:o, s:o, s:b}",
	    "id", out->id[0] != '\0' ? json_string(out->id) : json_null(),
	    "message_id", m->message_id, "accepted", acc, "suppressed", sup, "held", out->held);
}

void
api_messages_post(struct api_req *r, struct api_resp *rp)
{
	struct api_env *env = r->env;
	struct inject_env ie = { .st = env->st, .counters = env->counters, .rep = env->rep,
	    .spool = env->spool, .qmgr = env->qmgr, .c = env->c };
	struct inject_msg m;
	struct inject_outcome out;
	enum inject_result res;

	if (r->tenant_id == 0) {
		api_error(rp, 400, "bad_request", "tenant: the admin token sends for ?tenant=NAME");
		return;
	}
	if (env->st == NULL || env->spool == NULL || env->counters == NULL) {
		api_error(rp, 503, "unavailable", "the relay service is not set up (state, spool or counters)");
		return;
	}
	if (!api_messages_build(r, rp, &m))
		return;
	res = inject_queue(&ie, r->tenant_id, r->client_ip, &m, &out);
	if (res != INJECT_Q_OK)
		api_messages_error(r, rp, res, out.text);
	else
		api_reply(rp, 202, api_messages_reply(&m, &out));
	inject_outcome_free(&out);
	inject_msg_free(&m);
}
