/*
 * webhook_post.c - the libcurl request of a webhook POST (webhook_post.h).
 * STANDARDS: RFC 9110 (HTTP semantics: 2xx is success, redirects are not
 * followed because a redirect could point a tenant's events elsewhere).
 * SECURITY: the URL was checked when stored (webhook_store.c); it may hold
 * credentials, which only curl sees. The secret goes into the HMAC only.
 */
#include "webhook/webhook_post.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events/event_json.h"
#include "webhook/webhook_sign.h"

#define WEBHOOK_USER_AGENT "ferry-webhook/0.1"

/* The reply body is not used: count it, and stop a peer that sends
 * without end (the transfer then fails with CURLE_WRITE_ERROR). */
static size_t
webhook_post_discard(char *data, size_t size, size_t nmemb, void *arg)
{
	struct webhook_post *p = arg;

	(void)data;
	p->reply_len += size * nmemb;
	return p->reply_len > WEBHOOK_REPLY_MAX ? 0 : size * nmemb;
}

static int
webhook_post_headers(struct webhook_post *p, const struct webhook *w, time_t now)
{
	char sig[WEBHOOK_SIG_MAX], line[WEBHOOK_SIG_MAX + 64];
	const char *fixed[] = { "Content-Type: application/json", "Expect:" };
	struct curl_slist *h;

	if (webhook_sign(w->secret, now, p->body, p->len, sig, sizeof(sig)) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if ((h = curl_slist_append(p->headers, fixed[i])) == NULL)
			return -1;
		p->headers = h;
	}
	snprintf(line, sizeof(line), "Ferry-Signature: %s", sig);
	if ((h = curl_slist_append(p->headers, line)) == NULL)
		return -1;
	p->headers = h;
	snprintf(line, sizeof(line), "Ferry-Webhook-Id: %lld", w->id);
	if ((h = curl_slist_append(p->headers, line)) == NULL)
		return -1;
	p->headers = h;
	return 0;
}

static int
webhook_post_opts(struct webhook_post *p, const struct webhook *w, long timeout, const char *ca_file)
{
	CURL *e = p->easy;
	long connect = timeout < 10 ? timeout : 10;

	return (curl_easy_setopt(e, CURLOPT_URL, w->url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    (ca_file != NULL && curl_easy_setopt(e, CURLOPT_CAINFO, ca_file) != CURLE_OK) ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT, timeout) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, connect) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_USERAGENT, WEBHOOK_USER_AGENT) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->headers) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDS, p->body) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->len) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, webhook_post_discard) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, p) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, p->errbuf) != CURLE_OK) ? -1 : 0;
}

int
webhook_post_init(struct webhook_post *p, const struct webhook *w, char *body, size_t len,
    time_t now, long timeout, const char *ca_file)
{
	memset(p, 0, sizeof(*p));
	p->body = body;
	p->len = len;
	if ((p->easy = curl_easy_init()) == NULL || webhook_post_headers(p, w, now) < 0 ||
	    webhook_post_opts(p, w, timeout, ca_file) < 0) {
		webhook_post_free(p);
		return -1;
	}
	return 0;
}

void
webhook_post_free(struct webhook_post *p)
{
	if (p->easy != NULL)
		curl_easy_cleanup(p->easy);
	curl_slist_free_all(p->headers);
	free(p->body);
	memset(p, 0, sizeof(*p));
}

bool
webhook_post_result(struct webhook_post *p, CURLcode rc, long *status, char *err, size_t errlen)
{
	long code = 0;

	curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &code);
	*status = code;
	/* a 2xx whose body we stopped reading was still accepted */
	if ((rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && p->reply_len > WEBHOOK_REPLY_MAX)) &&
	    code >= 200 && code <= 299) {
		err[0] = '\0';
		return true;
	}
	if (rc != CURLE_OK)
		snprintf(err, errlen, "%s", p->errbuf[0] ? p->errbuf : curl_easy_strerror(rc));
	else
		snprintf(err, errlen, "HTTP status %ld", code);
	return false;
}

/* {"events": [{"type": "test", ...}]}: the shape of a real batch. */
static char *
webhook_post_test_body(const struct webhook *w, time_t now, size_t *len)
{
	struct state_event e = { .time = now, .tenant_id = w->tenant_id, .kind = "test",
	    .queue_id = "", .rcpt_index = -1, .rcpt = "", .category = "", .status = "",
	    .detail = "a test event from ferry", .source = "test", .report_id = "" };
	json_t *ev = event_json(&e, w->tenant), *arr = json_array(), *top = json_object();
	char *body = NULL;

	if (ev != NULL && arr != NULL && top != NULL && json_array_append(arr, ev) == 0 &&
	    json_object_set(top, "events", arr) == 0)
		body = json_dumps(top, JSON_COMPACT);
	json_decref(ev);
	json_decref(arr);
	json_decref(top);
	*len = body != NULL ? strlen(body) : 0;
	return body;
}

bool
webhook_post_test(const struct webhook *w, long timeout, const char *ca_file, long *status,
    char *err, size_t errlen)
{
	struct webhook_post p;
	time_t now = time(NULL);
	size_t len;
	char *body = webhook_post_test_body(w, now, &len);
	bool ok;

	*status = 0;
	/* webhook_post_init frees body when it fails */
	if (body == NULL || webhook_post_init(&p, w, body, len, now, timeout, ca_file) < 0) {
		snprintf(err, errlen, "cannot build the request");
		return false;
	}
	ok = webhook_post_result(&p, curl_easy_perform(p.easy), status, err, errlen);
	webhook_post_free(&p);
	return ok;
}
