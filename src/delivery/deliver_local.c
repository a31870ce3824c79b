/*
 * deliver_local.c - recipients in hosted domains: aliases expanded from the
 * configuration before anything is delivered (into leaves: our mailboxes,
 * addresses elsewhere, loops), then each mailbox delivered into its Maildir
 * under maildir_root; addresses elsewhere go out with the message's other
 * remote recipients. Any local failure is temporary (the message stays queued).
 */
#include "delivery/deliver_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "delivery/maildir.h"
#include "util/xmalloc.h"

#define DELIVER_ALIAS_DEPTH 8

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

/* One more leaf of an expansion (grown as needed). */
static struct deliver_leaf *
deliver_leaf_add(struct deliver_leaves *lv, size_t rr, const char *addr, enum deliver_leaf_kind kind)
{
	struct deliver_leaf *l;

	if (lv->n == lv->cap) {
		lv->cap = lv->cap ? lv->cap * 2 : 8;
		lv->v = xrealloc(lv->v, lv->cap * sizeof(*lv->v));
	}
	l = &lv->v[lv->n++];
	memset(l, 0, sizeof(*l));
	l->rr = rr;
	l->kind = kind;
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	return l;
}

/* Expand addr (recipient rr of the message) into leaves: mailboxes of
 * ours, addresses elsewhere, and failures (a loop). No I/O. */
static void
deliver_expand(const struct conf *c, size_t rr, const char *addr, struct deliver_leaves *lv, int depth)
{
	char key[320];
	const struct conf_alias *a;
	const char *at;

	deliver_lower(addr, key, sizeof(key));
	if ((at = strrchr(key, '@')) == NULL) {   /* bare <Postmaster> */
		deliver_expand(c, rr, c->postmaster, lv, depth + 1);
		return;
	}
	if (depth > DELIVER_ALIAS_DEPTH) {
		struct deliver_leaf *l = deliver_leaf_add(lv, rr, addr, DELIVER_LEAF_FAILED);
		mta_reply_set(&l->res.reply, 554, "5.4.6 alias loop or too deep nesting at %.200s", addr);
		return;
	}
	if ((a = conf_alias_lookup(c, key)) != NULL) {
		for (size_t i = 0; i < a->nto; i++) {
			if (strcasecmp(a->to[i], key) == 0)    /* "alias a@x a@x b@x": a keeps a copy */
				deliver_leaf_add(lv, rr, key, DELIVER_LEAF_MAILDIR);
			else
				deliver_expand(c, rr, a->to[i], lv, depth + 1);
		}
		return;
	}
	if (conf_domain_hosted(c, at + 1)) {
		const struct conf_route *route = conf_route_find(c, at + 1);
		if (route == NULL || route->transport == CONF_TRANSPORT_MAILDIR) {
			deliver_leaf_add(lv, rr, key, DELIVER_LEAF_MAILDIR);
			return;
		}
	}
	/* A non-local alias target goes out like any other recipient. */
	deliver_leaf_add(lv, rr, addr, DELIVER_LEAF_REMOTE);
}

void
deliver_local_expand(const struct conf *c, struct rcpt_result *res, size_t rr, struct deliver_leaves *lv)
{
	size_t first = lv->n;

	deliver_expand(c, rr, res[rr].r->addr, lv, 0);
	/* the leaves stand for the envelope recipient (its VERP index, its DSN) */
	for (size_t i = first; i < lv->n; i++) {
		struct deliver_leaf *l = &lv->v[i];
		l->sr.state = SPOOL_RCPT_PENDING;     /* sr.addr is set when it goes out */
		l->sr.notify = res[rr].r->notify;
		l->res.state = SPOOL_RCPT_PENDING;
		l->res.attempted = true;
		l->res.env_rcpt = res[rr].r;
	}
}

void
deliver_local_maildirs(const struct conf *c, const struct spool_env *env, int fd, struct deliver_leaves *lv)
{
	for (size_t i = 0; i < lv->n; i++)
		if (lv->v[i].kind == DELIVER_LEAF_MAILDIR)
			deliver_maildir(c, env, fd, lv->v[i].addr, &lv->v[i].res.reply, lv->v[i].res.relay,
			    sizeof(lv->v[i].res.relay));
}

void
deliver_local_merge(struct rcpt_result *res, struct deliver_leaves *lv)
{
	for (size_t i = 0; i < lv->n; i++) {
		struct rcpt_result *rr = &res[lv->v[i].rr];
		int before = rr->reply.code;
		deliver_reply_merge(&rr->reply, &lv->v[i].res.reply);
		if (rr->reply.code != before || rr->relay[0] == '\0')
			snprintf(rr->relay, sizeof(rr->relay), "%s", lv->v[i].res.relay);
		if (lv->v[i].res.retry_at != 0 && (rr->retry_at == 0 || lv->v[i].res.retry_at < rr->retry_at))
			rr->retry_at = lv->v[i].res.retry_at;
	}
}

void
deliver_leaves_free(struct deliver_leaves *lv)
{
	free(lv->v);
	memset(lv, 0, sizeof(*lv));
}
