/*
 * deliver_local.c - recipients in hosted domains: aliases expanded from the
 * configuration, then each mailbox delivered into its Maildir under
 * maildir_root. Any local failure is temporary (the message stays queued).
 */
#include "delivery/deliver_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "delivery/maildir.h"
#include "util/xmalloc.h"

#define DELIVER_ALIAS_DEPTH 8

static void deliver_address(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env,
    int fd, const struct spool_rcpt *orig, const char *addr, struct mta_reply *reply, char *relay,
    size_t relaysz, int depth);

static void
deliver_lower(const char *in, char *out, size_t outsz)
{
	size_t i;

	for (i = 0; in[i] && i + 1 < outsz; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[i] = '\0';
}

/* Keep the worst outcome: a failure beats a deferral beats success. */
static void
deliver_reply_merge(struct mta_reply *acc, const struct mta_reply *r)
{
	int rank_acc = acc->code >= 500 ? 3 : acc->code >= 400 ? 2 : acc->code ? 1 : 0;
	int rank_r = r->code >= 500 ? 3 : r->code >= 400 ? 2 : 1;

	if (rank_r > rank_acc)
		*acc = *r;
}

static void
deliver_maildir(const struct conf *c, const struct spool_env *env, int fd, const char *addr,
    struct mta_reply *reply, char *relay, size_t relaysz)
{
	char path[4096], err[512];

	if (maildir_path(c->maildir_root, addr, path, sizeof(path)) < 0) {
		mta_reply_set(reply, 550, "5.1.3 cannot map %.200s to a mailbox", addr);
		return;
	}
	snprintf(relay, relaysz, "maildir");
	if (maildir_deliver(path, fd, env->content_off, env->content_len, env->sender, addr,
	    err, sizeof(err)) < 0)
		mta_reply_set(reply, 451, "4.3.0 %.400s", err);
	else
		mta_reply_set(reply, 250, "2.0.0 delivered to maildir");
}

/* A non-local alias target goes out like any other recipient (on behalf
 * of orig, the envelope recipient: its VERP index). */
static void
deliver_forward(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env, int fd,
    const struct spool_rcpt *orig, const char *addr, struct mta_reply *reply, char *relay, size_t relaysz)
{
	struct spool_rcpt r = { .addr = (char *)addr, .state = SPOOL_RCPT_PENDING };
	struct rcpt_result rr = { .r = &r, .env_rcpt = orig, .state = SPOOL_RCPT_PENDING, .attempted = true };
	struct rcpt_result *group = &rr;
	const char *at = strrchr(addr, '@');
	const char *domain = at ? at + 1 : "";

	deliver_remote(d, c, conf_route_find(c, domain), domain, env, fd, &group, 1);
	*reply = rr.reply;
	snprintf(relay, relaysz, "%s", rr.relay);
}

static void
deliver_address(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env, int fd,
    const struct spool_rcpt *orig, const char *addr, struct mta_reply *reply, char *relay,
    size_t relaysz, int depth)
{
	char key[320];
	const struct conf_alias *a;
	const char *at;

	deliver_lower(addr, key, sizeof(key));
	if ((at = strrchr(key, '@')) == NULL) {   /* bare <Postmaster> */
		deliver_address(d, c, env, fd, orig, c->postmaster, reply, relay, relaysz, depth + 1);
		return;
	}
	if (depth > DELIVER_ALIAS_DEPTH) {
		mta_reply_set(reply, 554, "5.4.6 alias loop or too deep nesting at %.200s", addr);
		return;
	}
	if ((a = conf_alias_lookup(c, key)) != NULL) {
		struct mta_reply acc = { 0 };
		for (size_t i = 0; i < a->nto; i++) {
			struct mta_reply one = { 0 };
			if (strcasecmp(a->to[i], key) == 0)    /* "alias a@x a@x b@x": a keeps a copy */
				deliver_maildir(c, env, fd, key, &one, relay, relaysz);
			else
				deliver_address(d, c, env, fd, orig, a->to[i], &one, relay, relaysz, depth + 1);
			deliver_reply_merge(&acc, &one);
		}
		*reply = acc;
		return;
	}
	if (conf_domain_hosted(c, at + 1)) {
		const struct conf_route *route = conf_route_find(c, at + 1);
		if (route == NULL || route->transport == CONF_TRANSPORT_MAILDIR) {
			deliver_maildir(c, env, fd, key, reply, relay, relaysz);
			return;
		}
	}
	deliver_forward(d, c, env, fd, orig, addr, reply, relay, relaysz);
}

void
deliver_local(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env, int fd,
    struct rcpt_result *rr)
{
	deliver_address(d, c, env, fd, rr->r, rr->r->addr, &rr->reply, rr->relay, sizeof(rr->relay), 0);
}
