/*
 * api_unsubscribe.c - one-click unsubscribe (RFC 8058): POST
 * /unsubscribe/{token} with the body "List-Unsubscribe=One-Click" (form
 * encoded, or a multipart form field) puts the token's recipient on its
 * tenant's suppression list (reason unsubscribe) and emits an
 * "unsubscribed" event (webhooks follow from it); GET shows a small page
 * whose button makes that POST: a GET never unsubscribes, as link
 * scanners and prefetchers follow links (RFC 8058 3.2). Repeating the
 * POST answers the same and records nothing new.
 * STANDARDS: RFC 8058, RFC 2369.
 * SECURITY: no credential: the token is the authority (state/unsub.h,
 * MAC checked in constant time); an invalid or unknown one is a 404 that
 * says no more. The token is never logged; the address is, quoted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "events/outbox.h"
#include "http/api_analytics.h"
#include "state/state.h"
#include "state/suppress.h"
#include "state/unsub.h"
#include "util/log.h"
#include "util/xmalloc.h"

/* The token's recipient and tenant; false when it is not genuine or its
 * tenant is gone. */
static bool
api_unsub_token(const struct api_req *r, struct unsub_info *info, struct state_tenant *t)
{
	unsigned char secret[32];
	const char *tok = r->nparams > 0 ? r->params[0] : "";
	bool ok;

	if (state_verp_secret(r->env->st, secret) != 0)
		return false;
	ok = unsub_token_check(secret, tok, strlen(tok), info);
	sodium_memzero(secret, sizeof(secret));
	return ok && state_tenant_by_id(r->env->st, info->tenant_id, t) == 1;
}

static void
api_unsub_raw(struct api_resp *rp, int status, const char *type, char *body)
{
	rp->status = status;
	rp->raw = body;
	rp->raw_len = strlen(body);
	rp->content_type = type;
}

/* text with & < > " ' as entities into out. */
static const char *
api_html_escape(const char *in, char *out, size_t outsz)
{
	size_t n = 0;

	for (; *in != '\0'; in++) {
		const char *e = *in == '&' ? "&amp;" : *in == '<' ? "&lt;" : *in == '>' ? "&gt;" :
		    *in == '"' ? "&quot;" : *in == '\'' ? "&#39;" : NULL;
		size_t el = e != NULL ? strlen(e) : 1;
		if (n + el + 1 > outsz)
			break;
		memcpy(out + n, e != NULL ? e : in, el);
		n += el;
	}
	out[n] = '\0';
	return out;
}

static const char api_unsub_page_fmt[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<meta name=\"robots\" content=\"noindex\"><title>Unsubscribe</title></head>\n<body>\n"
    "<h1>Unsubscribe</h1>\n<p>Stop mail from %s to <strong>%s</strong>?</p>\n"
    "<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
    "<button type=\"submit\">Unsubscribe</button></form>\n</body></html>\n";

static void
api_unsub_page(struct api_req *r, struct api_resp *rp)
{
	struct unsub_info info;
	struct state_tenant t;
	char addr[SUPPRESS_ADDR_MAX * 6 + 1], name[STATE_NAME_MAX * 6 + 1];

	if (!api_unsub_token(r, &info, &t)) {
		api_unsub_raw(rp, 404, "text/html; charset=utf-8", xstrdup("<!DOCTYPE html>\n<html lang=\"en\">"
		    "<head><meta charset=\"utf-8\"><title>Not found</title></head><body><p>This unsubscribe link"
		    " is not valid.</p></body></html>\n"));
		return;
	}
	size_t len = sizeof(api_unsub_page_fmt) + sizeof(addr) + sizeof(name);
	char *body = xmalloc(len);
	snprintf(body, len, api_unsub_page_fmt, api_html_escape(t.name, name, sizeof(name)),
	    api_html_escape(info.rcpt, addr, sizeof(addr)));
	api_unsub_raw(rp, 200, "text/html; charset=utf-8", body);
}

/* RFC 8058 3.1: the POST carries List-Unsubscribe=One-Click, form
 * encoded or as a multipart/form-data field. */
static bool
api_unsub_body_ok(const struct api_req *r)
{
	static const char kv[] = "List-Unsubscribe=One-Click", field[] = "name=\"List-Unsubscribe\"";
	const unsigned char *b = r->body;
	size_t n = r->body_len;

	if (b == NULL)
		return false;
	return memmem(b, n, kv, sizeof(kv) - 1) != NULL ||
	    (memmem(b, n, field, sizeof(field) - 1) != NULL && memmem(b, n, "One-Click", 9) != NULL);
}

static void
api_unsub_event(long long tenant_id, const char *rcpt)
{
	struct state_event ev = { .tenant_id = tenant_id, .kind = EV_UNSUBSCRIBED, .queue_id = "",
	    .rcpt_index = -1, .rcpt = rcpt, .category = "", .status = "", .detail = "one-click",
	    .source = "http", .report_id = "", .message_id = "", .sender = "", .source_ip = "", .site = "" };

	outbox_emit(&ev);
}

static void
api_unsub_post(struct api_req *r, struct api_resp *rp)
{
	struct suppression s = { .reason = SUPPRESS_UNSUBSCRIBE }, cur;
	struct unsub_info info;
	struct state_tenant t;
	char qt[STATE_NAME_MAX * 4 + 8], qr[SUPPRESS_ADDR_MAX * 4 + 8];
	time_t now = time(NULL);
	int had;

	if (!api_unsub_token(r, &info, &t)) {
		api_error(rp, 404, "not_found", "unknown or invalid unsubscribe link");
		return;
	}
	if (!api_unsub_body_ok(r)) {
		api_error(rp, 400, "bad_request", "the body must be List-Unsubscribe=One-Click (RFC 8058)");
		return;
	}
	had = state_suppression_get(r->env->st, t.id, info.rcpt, strlen(info.rcpt), now, &cur);
	if (had < 0)
		goto unavailable;
	/* a complaint is evidence too: kept, not replaced by the unsubscribe */
	if (had == 0 || (cur.reason != SUPPRESS_UNSUBSCRIBE && cur.reason != SUPPRESS_COMPLAINT)) {
		snprintf(s.addr, sizeof(s.addr), "%s", info.rcpt);
		snprintf(s.cause, sizeof(s.cause), "one-click unsubscribe from %s",
		    r->client_ip != NULL ? r->client_ip : "?");
		s.time = now;
		if (state_suppression_add(r->env->st, t.id, &s) != 0)
			goto unavailable;
		api_unsub_event(t.id, info.rcpt);
		log_info("event=unsubscribed tenant=%s rcpt=%s client=%s",
		    log_quote(qt, sizeof(qt), t.name, strlen(t.name)),
		    log_quote(qr, sizeof(qr), info.rcpt, strlen(info.rcpt)), r->client_ip ? r->client_ip : "-");
	}
	api_unsub_raw(rp, 200, "text/plain; charset=utf-8", xstrdup("unsubscribed\n"));
	return;
unavailable:
	api_error(rp, 503, "unavailable", "cannot record the unsubscribe now; try again");
}

const struct api_route api_routes_unsubscribe[] = {
	{ "GET",  "/unsubscribe/{token}", API_AUTH_NONE, api_unsub_page },
	{ "POST", "/unsubscribe/{token}", API_AUTH_NONE, api_unsub_post },
	{ 0 },
};
