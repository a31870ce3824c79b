/*
 * ctl_webhook.c - `ferryctl webhook add|list|del|test`: a tenant's webhook
 * endpoints (src/webhook/), edited in the state database; ferryd's sender
 * sees a change within a second.
 * SECURITY: the signing secret is printed once, by add, alone on the first
 * line (as `key create` prints a key) and wiped; list never shows it, and
 * shows URLs without their user:password@.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#include "ferryctl/ctl_state.h"
#include "webhook/webhook_post.h"
#include "webhook/webhook_store.h"

const char ctl_webhook_usage[] =
    "  webhook add TENANT URL [--events a,b]  a signed endpoint for the tenant's events (the secret\n"
    "                                        is printed once, first line; then its id)\n"
    "  webhook list [TENANT]                 endpoints, their cursor and retry state\n"
    "  webhook del ID                        delete an endpoint\n"
    "  webhook test ID                       POST a signed test event now; print the HTTP status\n";

static int
ctl_webhook_add(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	struct state_tenant t;
	struct webhook w;
	char err[1024];
	int rc;

	(void)c;
	if ((rc = state_tenant_by_name(st, a->arg[0], &t)) <= 0)
		return ctl_state_fail(rc < 0 ? "cannot read the state database" : "no such tenant");
	if (webhook_add(st, t.id, a->arg[1], a->events, &w, err, sizeof(err)) < 0)
		return ctl_state_fail(err);
	printf("%s\n", w.secret);
	printf("id %lld\n", w.id);
	printf("# the secret above is shown only now: it signs each POST (Ferry-Signature header,"
	    " see docs/api.md)\n");
	sodium_memzero(w.secret, sizeof(w.secret));
	return CTL_EXIT_OK;
}

static void
ctl_webhook_line(void *arg, const struct webhook *w)
{
	char url[WEBHOOK_URL_MAX + 1], when[64], next[64];

	(void)arg;
	printf("%lld\t%s\t%s\t%s\tcursor %lld\t", w->id, w->tenant,
	    webhook_url_redact(w->url, url, sizeof(url)), w->events[0] ? w->events : "all", w->cursor);
	if (w->failures == 0) {
		printf("ok\n");
		return;
	}
	printf("failing since %s, %lld failures, next try %s: %s\n",
	    ctl_time_text(w->failing_since, when, sizeof(when)), w->failures,
	    ctl_time_text(w->next_try, next, sizeof(next)), w->last_error);
}

static int
ctl_webhook_list(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	struct state_tenant t = { .id = 0 };
	int rc;

	(void)c;
	if (a->narg > 0 && (rc = state_tenant_by_name(st, a->arg[0], &t)) <= 0)
		return ctl_state_fail(rc < 0 ? "cannot read the state database" : "no such tenant");
	printf("ID\tTENANT\tURL\tEVENTS\tCURSOR\tSTATE\n");
	if (webhook_list(st, t.id, false, ctl_webhook_line, NULL) < 0)
		return ctl_state_fail("cannot read the webhooks table");
	return CTL_EXIT_OK;
}

/* ID as typed: a whole number >= 1, else -1 after a message. */
static long long
ctl_webhook_id(const char *s)
{
	char *end;
	long long id = strtoll(s, &end, 10);

	if (s[0] < '0' || s[0] > '9' || *end != '\0' || id < 1) {
		ctl_warn("invalid webhook id %s: a whole number (webhook list)", s);
		return -1;
	}
	return id;
}

static int
ctl_webhook_del(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	long long id = ctl_webhook_id(a->arg[0]);
	int rc;

	(void)c;
	if (id < 0)
		return CTL_EXIT_USAGE;
	if ((rc = webhook_del(st, id, 0)) <= 0)
		return ctl_state_fail(rc < 0 ? "cannot write the webhooks table" : "no such webhook");
	printf("webhook %lld deleted\n", id);
	return CTL_EXIT_OK;
}

static int
ctl_webhook_test(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	long long id = ctl_webhook_id(a->arg[0]);
	const struct conf *k;
	struct webhook w;
	char err[CURL_ERROR_SIZE + 64];
	long status;
	bool ok;
	int rc;

	if (id < 0)
		return CTL_EXIT_USAGE;
	if ((k = ctl_conf_get(c)) == NULL)
		return CTL_EXIT_ERR;
	if ((rc = webhook_get(st, id, 0, true, &w)) <= 0)
		return ctl_state_fail(rc < 0 ? "cannot read the webhooks table" : "no such webhook");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	ok = webhook_post_test(&w, (long)k->webhook_timeout, k->tls_ca_file, &status, err, sizeof(err));
	sodium_memzero(w.secret, sizeof(w.secret));
	if (status != 0)
		printf("HTTP %ld\n", status);
	if (!ok) {
		ctl_warn("webhook %lld: %s", id, err);
		return CTL_EXIT_ERR;
	}
	return CTL_EXIT_OK;
}

static const struct ctl_sub ctl_webhook_subs[] = {
	{ "add",  2, 2, CTL_O_EVENTS, false, ctl_webhook_add },
	{ "list", 0, 1, 0, false, ctl_webhook_list },
	{ "del",  1, 1, 0, false, ctl_webhook_del },
	{ "test", 1, 1, 0, false, ctl_webhook_test },
};

int
ctl_webhook_main(struct ctl *c, int argc, char **argv)
{
	static const struct ctl_group g = { "webhook", ctl_webhook_usage, ctl_webhook_subs,
	    sizeof(ctl_webhook_subs) / sizeof(ctl_webhook_subs[0]) };

	return ctl_group_main(c, &g, argc, argv);
}
