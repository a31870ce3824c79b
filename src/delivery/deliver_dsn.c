/*
 * deliver_dsn.c - send delivery status notifications for a message: build
 * them (bounce.c, their one builder) and queue them as new messages from the null sender,
 * waiting until they are durable. Never to the null sender: a failed
 * message from <> goes once to the postmaster (a "double bounce", marked so
 * that its own failure is only logged).
 * STANDARDS: RFC 3461 4.1 (NOTIFY decides which notifications are sent).
 */
#include "delivery/deliver_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "delivery/bounce.h"
#include "smtp/smtp_parse.h"
#include "util/log.h"
#include "util/xmalloc.h"

/* Queue text as a message from <> to rcpt; returns 0 once durable. */
static int
dsn_queue(struct deliver_ctx *d, const char *rcpt, enum spool_dsn mark, const char *text, size_t len,
    char id[SPOOL_ID_LEN + 1])
{
	struct spool_msg *m = spool_msg_create(d->h->spool, id);
	int rc = 0;

	if (m == NULL)
		return -1;
	rc |= spool_rec_num(m, SPOOL_REC_TIME, (long long)time(NULL));
	rc |= spool_rec_str(m, SPOOL_REC_SENDER, "");
	rc |= spool_rec_str(m, SPOOL_REC_RCPT, rcpt);
	rc |= spool_rec_num(m, SPOOL_REC_DSN, mark);
	rc |= spool_rec_str(m, SPOOL_REC_PROTO, "local");
	rc |= spool_msg_content_begin(m);
	rc |= spool_msg_write(m, text, len);
	if (rc != 0) {
		spool_msg_abort(m);
		return -1;
	}
	if (spool_msg_commit_wait(m) != 0)
		return -1;
	if (d->h->queued != NULL)
		d->h->queued(d->h->queued_arg, id, rcpt);
	return 0;
}

static bool
dsn_wanted(const struct rcpt_result *r, int kind)
{
	unsigned nf = r->r->notify;

	if (!r->attempted || (nf & SMTP_NOTIFY_NEVER))
		return false;
	switch (kind) {
	case DSN_FAILURES:  return r->state == SPOOL_RCPT_FAILED && (nf == 0 || (nf & SMTP_NOTIFY_FAILURE));
	case DSN_DELAYS:    return r->state == SPOOL_RCPT_PENDING && (nf == 0 || (nf & SMTP_NOTIFY_DELAY));
	default:            return r->state == SPOOL_RCPT_DELIVERED && (nf & SMTP_NOTIFY_SUCCESS) && !r->dsn_passed;
	}
}

/* "550 5.1.1 text" -> status "5.1.1"; else from the code. */
static void
dsn_status(const struct mta_reply *r, char *out, size_t outsz)
{
	if (mta_reply_status(r->text, out, outsz))
		return;
	snprintf(out, outsz, "%d.0.0", r->code >= 500 ? 5 : r->code >= 400 ? 4 : 2);
}

static void
dsn_rcpt_fill(const struct conf *c, const struct spool_env *env, struct rcpt_result *r, int kind,
    struct bounce_rcpt *b, char status[16], char *diag, size_t diagsz)
{
	memset(b, 0, sizeof(*b));
	/* An expired recipient keeps its 4.4.7 (RFC 3463: delivery time
	 * expired) with Action: failed, as Postfix reports it. */
	dsn_status(&r->reply, status, 16);
	snprintf(diag, diagsz, "smtp; %d %s", r->reply.code, r->reply.text);
	b->addr = r->r->addr;
	b->orcpt = r->r->orcpt;
	b->action = kind == DSN_FAILURES ? BOUNCE_FAILED : kind == DSN_DELAYS ? BOUNCE_DELAYED :
	    r->relayed ? BOUNCE_RELAYED : BOUNCE_DELIVERED;
	b->status = status;
	b->remote_mta = strchr(r->relay, '[') ? r->relay : NULL;
	b->diagnostic = diag;
	b->last_attempt = time(NULL);
	/* No queue lifetime (0): retried without end, so no Will-Retry-Until. */
	if (kind == DSN_DELAYS && c->max_queue_lifetime > 0)
		b->will_retry_until = env->arrival + (time_t)c->max_queue_lifetime;
}

static int
dsn_build_and_queue(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env,
    int fd, struct rcpt_result **sel, size_t n, int kind, const char *to, enum spool_dsn mark)
{
	struct bounce_rcpt *br = xcalloc(n, sizeof(*br));
	char (*status)[16] = xcalloc(n, 16), (*diag)[700] = xcalloc(n, 700);
	char from[300], id[SPOOL_ID_LEN + 1], who[300];
	struct bounce_info bi;
	char *text = NULL;
	size_t len = 0;
	int rc = -1;

	for (size_t i = 0; i < n; i++)
		dsn_rcpt_fill(c, env, sel[i], kind, &br[i], status[i], diag[i], 700);
	snprintf(from, sizeof(from), "MAILER-DAEMON@%s", c->hostname);
	memset(&bi, 0, sizeof(bi));
	bi.reporting_mta = c->hostname;
	bi.postmaster = from;
	bi.to = to;
	bi.queue_id = env->id;
	bi.envid = env->envid;
	bi.arrival = env->arrival;
	bi.return_full = kind == DSN_FAILURES ? env->ret != SMTP_RET_HDRS : env->ret == SMTP_RET_FULL;
	bi.rcpts = br;
	bi.nrcpts = n;
	bi.content_fd = fd;
	bi.content_off = env->content_off;
	bi.content_len = env->content_len;
	bi.max_return = 1024 * 1024;
	if (bounce_build(&bi, &text, &len) == 0 && dsn_queue(d, to, mark, text, len, id) == 0) {
		rc = 0;
		log_info("event=dsn id=%s orig_id=%s kind=%s to=%s recipients=%zu", id, env->id,
		    kind == DSN_FAILURES ? "failure" : kind == DSN_DELAYS ? "delay" : "success",
		    log_quote(who, sizeof(who), to, strlen(to)), n);
	}
	free(text);
	free(br);
	free(status);
	free(diag);
	return rc;
}

int
deliver_dsn_send(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env, int fd,
    struct rcpt_result *res, size_t n, int kind)
{
	struct rcpt_result **sel = xcalloc(n ? n : 1, sizeof(*sel));
	const char *to = env->sender;
	enum spool_dsn mark = SPOOL_DSN_BOUNCE;
	size_t ns = 0;
	int rc = 0;

	/* A report to a return path or complaint address is ferry's own
	 * business: it never makes a notification (NOTIFY=SUCCESS on it would
	 * reflect its content to whoever MAIL FROM named). */
	if (env->report) {
		free(sel);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (dsn_wanted(&res[i], kind))
			sel[ns++] = &res[i];
	if (ns > 0 && to[0] == '\0') {
		/* Never bounce to <>. A failed bounce goes to the postmaster once. */
		if (kind != DSN_FAILURES || env->dsn_kind == SPOOL_DSN_DOUBLE) {
			if (kind == DSN_FAILURES)
				log_info("event=dsn-dropped orig_id=%s reason=\"undeliverable postmaster notice\"", env->id);
			ns = 0;
		} else {
			to = c->postmaster;
			mark = SPOOL_DSN_DOUBLE;
		}
	}
	if (ns > 0)
		rc = dsn_build_and_queue(d, c, env, fd, sel, ns, kind, to, mark);
	free(sel);
	return rc;
}
