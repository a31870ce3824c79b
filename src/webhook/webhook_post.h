/*
 * webhook_post.h - one signed POST of a JSON body to an endpoint, as a
 * libcurl easy handle: the sender runs many of them in its curl multi, the
 * test commands (ferryctl webhook test, POST /v1/webhooks/{id}/test) one
 * at a time. The handle's options are set here only, so both paths send
 * the same request with the same TLS checks.
 * SECURITY: peers verified (CURLOPT_SSL_VERIFYPEER/HOST; CA file
 * tls_ca_file or the system's store), http and https only, redirects not
 * followed, no proxy from the environment, the reply body read and
 * discarded (at most WEBHOOK_REPLY_MAX octets).
 */
#ifndef FERRY_WEBHOOK_WEBHOOK_POST_H
#define FERRY_WEBHOOK_WEBHOOK_POST_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "webhook/webhook_store.h"

#define WEBHOOK_REPLY_MAX (1024 * 1024)

struct webhook_post {
	CURL              *easy;
	struct curl_slist *headers;
	char              *body;          /* owned (malloc'd) */
	size_t             len;
	size_t             reply_len;     /* octets of the reply body read */
	char               errbuf[CURL_ERROR_SIZE];
};

/* Make p: a POST of body (malloc'd; p owns it from now on, even on
 * failure) to w->url, signed with w->secret at now, with timeout seconds
 * in all and ca_file (NULL: the system's CAs). 0 or -1. */
int webhook_post_init(struct webhook_post *p, const struct webhook *w, char *body, size_t len,
    time_t now, long timeout, const char *ca_file);
void webhook_post_free(struct webhook_post *p);

/* The outcome of a finished transfer: true for a 2xx; *status the HTTP
 * status (0 when there was none) and why it failed in err. */
bool webhook_post_result(struct webhook_post *p, CURLcode rc, long *status, char *err, size_t errlen);

/* POST one test event ({"events": [{"type": "test", ...}]}) to w now and
 * wait for the reply. true for a 2xx; *status and err as above. */
bool webhook_post_test(const struct webhook *w, long timeout, const char *ca_file, long *status,
    char *err, size_t errlen);

#endif
