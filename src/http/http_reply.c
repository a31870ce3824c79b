/*
 * http_reply.c - sending a handler's reply: its JSON (compact) or raw
 * body, with the headers every API reply carries. HEAD replies lose their
 * body in evhttp itself.
 * STANDARDS: RFC 9110 (status codes, Location, Allow), RFC 6750 3
 * (WWW-Authenticate: Bearer), RFC 9111 5.2 (Cache-Control: no-store).
 * SECURITY: API replies may carry a tenant's data: never cached, never
 * sniffed as another type; a Location with CR or LF is dropped.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "http/http_internal.h"

void
http_reply_send(struct evhttp_request *req, struct api_resp *rp)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *b = evbuffer_new();
	char *text = NULL;

	if (b == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	if (rp->json != NULL && (text = json_dumps(rp->json, JSON_COMPACT)) == NULL) {
		json_decref(rp->json);
		rp->json = NULL;
		api_error(rp, 500, "internal", "the reply could not be written");
		text = json_dumps(rp->json, JSON_COMPACT);
	}
	if (text != NULL) {
		evbuffer_add(b, text, strlen(text));
		evbuffer_add(b, "\n", 1);
		evhttp_add_header(h, "Content-Type", "application/json");
		free(text);
	} else if (rp->raw != NULL) {
		evbuffer_add(b, rp->raw, rp->raw_len);
		evhttp_add_header(h, "Content-Type", rp->content_type != NULL ? rp->content_type :
		    "application/octet-stream");
	}
	if (rp->status == 401)
		evhttp_add_header(h, "WWW-Authenticate", "Bearer realm=\"ferry\"");
	if (rp->location[0] != '\0' && strpbrk(rp->location, "\r\n") == NULL)
		evhttp_add_header(h, "Location", rp->location);
	evhttp_add_header(h, "Cache-Control", rp->cache_control != NULL ? rp->cache_control : "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_send_reply(req, rp->status, NULL, b);
	evbuffer_free(b);
}
