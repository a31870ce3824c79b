/*
 * fuzz_webhook_input.c - libFuzzer target for what a tenant gives when it
 * adds a webhook (src/webhook/webhook_store.c): the URL check, the URL as
 * logged (userinfo left out) and the event-type list. The input is split
 * at its first NUL: URL, then list.
 * Invariants: an accepted URL is printable ASCII without spaces, starts
 * with http:// or https://, and its logged form is no longer, holds no '@'
 * before the path, and is accepted too; a normalised list is a comma list
 * of known kinds, each matching itself, that normalises to itself; never
 * a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "webhook/webhook_store.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static void
fuzz_url(const char *url)
{
	char err[256], out[WEBHOOK_URL_MAX + 1];
	size_t n, host;

	if (webhook_url_check(url, err, sizeof(err)) < 0) {
		CHECK(err[0] != '\0');
		return;
	}
	n = strlen(url);
	CHECK(n <= WEBHOOK_URL_MAX);
	for (size_t i = 0; i < n; i++)
		CHECK(url[i] > 0x20 && url[i] < 0x7f);
	CHECK(strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0);
	webhook_url_redact(url, out, sizeof(out));
	CHECK(strlen(out) <= n);
	host = strstr(out, "://") - out + 3;
	CHECK(memchr(out + host, '@', strcspn(out + host, "/?#")) == NULL);
}

static void
fuzz_events(const char *list)
{
	char out[WEBHOOK_EVENTS_MAX + 1], again[WEBHOOK_EVENTS_MAX + 1], err[512];

	if (webhook_events_norm(list, out, sizeof(out), err, sizeof(err)) < 0) {
		CHECK(err[0] != '\0');
		return;
	}
	CHECK(webhook_events_norm(out, again, sizeof(again), err, sizeof(err)) == 0);
	CHECK(strcmp(out, again) == 0);
	for (const char *p = out; *p != '\0';) {
		char kind[64];
		size_t len = strcspn(p, ",");
		CHECK(len > 0 && len < sizeof(kind));
		memcpy(kind, p, len);
		kind[len] = '\0';
		CHECK(webhook_events_match(out, kind));
		p += len + (p[len] == ',');
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 2);
	size_t n;

	CHECK(buf != NULL);
	memcpy(buf, data, size);
	buf[size] = buf[size + 1] = '\0';
	n = strlen(buf);
	fuzz_url(buf);
	fuzz_events(buf + (n < size ? n + 1 : size));
	free(buf);
	return 0;
}
