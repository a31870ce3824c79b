/*
 * inject_queue.c - an injected message into the spool as its tenant's
 * mail (see inject_queue.h): the tenant's rules in SMTP's order
 * (suspension, sender domains, enforcement, recipients, suppression, rate
 * windows), then the queue file (envelope, Received:, X-Ferry-Ref:, the
 * content), committed synchronously through the spool's committer, handed
 * to the queue manager and recorded as events.
 * STANDARDS: RFC 5321 4.4 (the Received: trace field), RFC 5322 3.6.
 * SECURITY: suppressed recipients never reach the queue file; counters
 * taken are given back when the commit fails; nothing is reported
 * accepted before the file and its directory entry are durable.
 */
#include "inject/inject_queue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "conf/conf.h"
#include "events/outbox.h"
#include "policy/sender.h"
#include "policy/tenant_send.h"
#include "reputation/rep.h"
#include "state/events.h"
#include "util/log.h"
#include "util/xmalloc.h"

/* One request's way through the rules. */
struct inject_q {
	const struct inject_env *e;
	const struct inject_msg *m;
	const char              *client;
	struct inject_outcome   *out;
	struct state_ident       id;
	struct tenant_send_rep   rep;
	struct tenant_send_take  take;
	char                     memo[256];     /* the last domain allowed */
	size_t                   naccepted;
};

static enum inject_result
inject_q_fail(struct inject_q *q, enum inject_result r, const char *fmt, const char *a, const char *b)
{
	snprintf(q->out->text, sizeof(q->out->text), fmt, a, b);
	return r;
}

/* sender_domain_fn: the tenant's domains, the last answer kept. */
static int
inject_q_domain_ok(void *arg, const char *domain)
{
	struct inject_q *q = arg;
	int rc;

	if (q->memo[0] != '\0' && strcmp(q->memo, domain) == 0)
		return 1;
	rc = state_sender_allowed(q->e->st, &q->id, domain);
	if (rc == 1 && strlen(domain) < sizeof(q->memo))
		strcpy(q->memo, domain);
	return rc;
}

/* The envelope sender's domain, then every From: mailbox's. */
static enum inject_result
inject_q_sender(struct inject_q *q)
{
	const char *at = strrchr(q->m->from, '@'), *end = strstr(q->m->data, "\r\n\r\n");
	size_t hlen = end != NULL ? (size_t)(end - q->m->data) + 2 : q->m->len;
	struct sender_result r;
	char domain[SMTP_PATH_MAX + 1];
	int rc;

	snprintf(domain, sizeof(domain), "%s", at != NULL ? at + 1 : "");
	for (char *p = domain; *p != '\0'; p++)
		*p = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
	if ((rc = inject_q_domain_ok(q, domain)) < 0)
		return inject_q_fail(q, INJECT_Q_UNAVAILABLE, "%s%s", "tenant state unavailable", "");
	if (rc == 0)
		return inject_q_fail(q, INJECT_Q_FORBIDDEN, "from: <%s> is not in a domain of tenant %s",
		    q->m->from, q->id.tenant);
	if (hlen > SENDER_HEADER_MAX)
		return inject_q_fail(q, INJECT_Q_TOO_BIG, "message: header section larger than %s%s", "256 KiB", "");
	switch (sender_from_check(q->m->data, hlen, inject_q_domain_ok, q, &r)) {
	case SENDER_OK:
		return INJECT_Q_OK;
	case SENDER_FOREIGN:
		tenant_send_printable(r.addr, false, domain, sizeof(domain));
		return inject_q_fail(q, INJECT_Q_FORBIDDEN, "From: address <%s> is not in a domain of tenant %s",
		    domain, q->id.tenant);
	case SENDER_ERROR:
		return inject_q_fail(q, INJECT_Q_UNAVAILABLE, "%s%s", "tenant state unavailable", "");
	default:
		return inject_q_fail(q, INJECT_Q_BAD, "message: %s%s",
		    "needs exactly one From: field with an address (RFC 5322 3.6)", "");
	}
}

/* Suspension, sender, enforcement, recipients per message. */
static enum inject_result
inject_q_rules(struct inject_q *q, long long tenant_id)
{
	char reason[160], text[400], n[32];
	enum inject_result r;
	int rc = state_ident_tenant(q->e->st, tenant_id, &q->id);

	if (rc != 1)
		return inject_q_fail(q, INJECT_Q_UNAVAILABLE, "%s%s", rc == 0 ? "no such tenant" :
		    "tenant state unavailable", "");
	if (q->id.suspended) {
		tenant_send_reason(&q->id, reason, sizeof(reason));
		return inject_q_fail(q, INJECT_Q_SUSPENDED, "Tenant %s is suspended: %s", q->id.tenant, reason);
	}
	if ((r = inject_q_sender(q)) != INJECT_Q_OK)
		return r;
	rc = tenant_send_rep_check(q->e->st, q->e->rep, q->e->counters, &q->id, &q->rep, text, sizeof(text));
	if (rc != 0)
		return inject_q_fail(q, rc < 0 ? INJECT_Q_UNAVAILABLE : INJECT_Q_LIMITED, "%s%s",
		    rc < 0 ? "tenant state unavailable" : text, "");
	if (q->id.tenant_limits.rcpts > 0 && (long long)q->m->nrcpts > q->id.tenant_limits.rcpts) {
		snprintf(n, sizeof(n), "%lld", q->id.tenant_limits.rcpts);
		return inject_q_fail(q, INJECT_Q_BAD, "to: too many recipients: tenant %s allows %s per message",
		    q->id.tenant, n);
	}
	return INJECT_Q_OK;
}

/* Mark the recipients on the tenant's list (either suppress_mode: the
 * API has no per-recipient refusal, the reply lists them). */
static enum inject_result
inject_q_suppress(struct inject_q *q)
{
	struct suppression sup;
	enum suppress_mode mode;

	q->out->suppressed = xcalloc(q->m->nrcpts ? q->m->nrcpts : 1, sizeof(bool));
	for (size_t i = 0; i < q->m->nrcpts; i++) {
		const char *a = q->m->rcpts[i];
		int rc = tenant_send_suppressed(q->e->st, q->id.tenant_id, a, strlen(a), &sup, &mode);
		if (rc < 0)
			return inject_q_fail(q, INJECT_Q_UNAVAILABLE, "%s%s", "suppression list unavailable", "");
		q->out->suppressed[i] = rc == 1;
		if (rc == 0)
			q->naccepted++;
	}
	return INJECT_Q_OK;
}

static const char *
inject_q_first(const struct inject_q *q)
{
	for (size_t i = 0; i < q->m->nrcpts; i++)
		if (!q->out->suppressed[i])
			return q->m->rcpts[i];
	return "";
}

static int
inject_q_envelope(struct inject_q *q, struct spool_msg *sm)
{
	int rc = 0;

	rc |= spool_rec_num(sm, SPOOL_REC_TIME, (long long)time(NULL));
	rc |= spool_rec_put(sm, SPOOL_REC_SENDER, q->m->from, strlen(q->m->from));
	for (size_t i = 0; i < q->m->nrcpts; i++)
		if (!q->out->suppressed[i])
			rc |= spool_rec_rcpt(sm, q->m->rcpts[i], strlen(q->m->rcpts[i]), 0, NULL);
	rc |= spool_rec_str(sm, SPOOL_REC_BODY, "8BITMIME");   /* a raw message may be 8-bit */
	rc |= spool_rec_str(sm, SPOOL_REC_AUTH, q->id.tenant);
	rc |= spool_rec_str(sm, SPOOL_REC_CLIENT, q->client);
	rc |= spool_rec_str(sm, SPOOL_REC_CLIENT_NAME, "unknown");
	rc |= spool_rec_str(sm, SPOOL_REC_PROTO, "HTTP");
	rc |= spool_rec_str(sm, SPOOL_REC_ROLE, conf_role_name(CONF_ROLE_SUBMISSION));
	rc |= spool_rec_put(sm, SPOOL_REC_WARN_DUE, "", 0);
	rc |= spool_rec_num(sm, SPOOL_REC_TENANT, q->id.tenant_id);
	rc |= spool_rec_str(sm, SPOOL_REC_POOL, q->id.pool[0] != '\0' ? q->id.pool : NULL);
	return rc;
}

/* Received: (RFC 5321 4.4; "for" only with one recipient) and X-Ferry-Ref:. */
static int
inject_q_trace(struct inject_q *q, struct spool_msg *sm)
{
	char hdr[1024], date[64], ref[256];
	time_t now = time(NULL);
	struct tm tm;
	int n, rn;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	n = snprintf(hdr, sizeof(hdr), "Received: from [%s] (tenant %s)\r\n\tby %s (ferry) with HTTP id %s",
	    q->client, q->id.tenant, q->e->c->hostname, q->out->id);
	if (q->naccepted == 1)
		n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "\r\n\tfor <%s>", inject_q_first(q));
	n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "; %s\r\n", date);
	if (n <= 0 || (size_t)n >= sizeof(hdr) || spool_msg_write(sm, hdr, (size_t)n) != 0)
		return -1;
	rn = tenant_send_ref_header(q->e->st, q->id.tenant_id, q->out->id,
	    q->naccepted == 1 ? inject_q_first(q) : NULL, ref, sizeof(ref));
	if (rn < 0) {
		log_warn("event=ref-header-skipped id=%s reason=\"state database unavailable\"", q->out->id);
		return 0;
	}
	return spool_msg_write(sm, ref, (size_t)rn);
}

/* The queue file, durable when this returns 0 (errno-style error else). */
static int
inject_q_spool(struct inject_q *q)
{
	struct spool_msg *sm = spool_msg_create(q->e->spool, q->out->id);

	if (sm == NULL)
		return errno != 0 ? errno : EIO;
	if (inject_q_envelope(q, sm) != 0 || spool_msg_content_begin(sm) != 0 || inject_q_trace(q, sm) != 0 ||
	    spool_msg_write(sm, q->m->data, q->m->len) != 0 ||
	    (q->rep.hold_reason[0] != '\0' && spool_msg_hold(sm, q->rep.hold_reason) != 0)) {
		spool_msg_abort(sm);
		return EIO;
	}
	/* the listener thread waits for the group commit (handlers may block briefly) */
	return spool_msg_commit_wait(sm);
}

/* As SMTP's (smtp_events.c): received per accepted recipient, suppressed
 * per dropped one, held when the message waits in hold/. */
static void
inject_q_events(struct inject_q *q)
{
	struct suppression sup;
	enum suppress_mode mode;
	char detail[SUPPRESS_CAUSE_MAX + 32];
	int idx = 0;
	struct state_event ev = { .time = time(NULL), .tenant_id = q->id.tenant_id, .queue_id = q->out->id,
	    .message_id = q->m->message_id, .sender = q->m->from, .source_ip = q->client,
	    .size = (long long)q->m->len, .source = "api" };

	for (size_t i = 0; i < q->m->nrcpts; i++) {
		ev.rcpt = q->m->rcpts[i];
		ev.detail = "";
		if (q->out->suppressed[i]) {
			ev.kind = EV_SUPPRESSED;
			ev.rcpt_index = -1;
			if (tenant_send_suppressed(q->e->st, q->id.tenant_id, ev.rcpt, strlen(ev.rcpt), &sup, &mode) == 1) {
				tenant_send_suppress_detail(&sup, detail, sizeof(detail));
				ev.detail = detail;
			}
		} else {
			ev.kind = EV_RECEIVED;
			ev.rcpt_index = idx++;
		}
		outbox_emit(&ev);
	}
	if (q->naccepted > 0 && q->rep.hold_reason[0] != '\0') {
		ev.kind = EV_HELD;
		ev.rcpt_index = -1;
		ev.rcpt = "";
		ev.detail = q->rep.hold_reason;
		ev.source = "review";
		outbox_emit(&ev);
	}
}

static void
inject_q_log(const struct inject_q *q)
{
	char qf[300], qh[300];

	if (q->naccepted == 0) {
		log_info("event=message-dropped client=%s from=%s tenant=%s dropped=%zu proto=HTTP"
		    " reason=\"every recipient suppressed\"", q->client,
		    log_quote(qf, sizeof(qf), q->m->from, strlen(q->m->from)), q->id.tenant, q->m->nrcpts);
		return;
	}
	log_info("event=queued id=%s client=%s from=%s nrcpt=%zu dropped=%zu size=%zu proto=HTTP tenant=%s",
	    q->out->id, q->client, log_quote(qf, sizeof(qf), q->m->from, strlen(q->m->from)), q->naccepted,
	    q->m->nrcpts - q->naccepted, q->m->len, q->id.tenant);
	if (q->rep.hold_reason[0] != '\0')
		log_info("event=held id=%s tenant=%s reason=%s", q->out->id, q->id.tenant,
		    log_quote(qh, sizeof(qh), q->rep.hold_reason, strlen(q->rep.hold_reason)));
}

/* Counters, the file, the queue manager: the accepted recipients' part. */
static enum inject_result
inject_q_commit(struct inject_q *q)
{
	char text[400];
	int rc = tenant_send_take(q->e->counters, &q->id, q->rep.throttle_rcpts, (long long)q->naccepted,
	    &q->take, text, sizeof(text));

	if (rc != 0)
		return inject_q_fail(q, rc < 0 ? INJECT_Q_UNAVAILABLE : INJECT_Q_LIMITED, "%s%s",
		    rc < 0 ? "rate counters unavailable" : text, "");
	if ((rc = inject_q_spool(q)) != 0) {
		tenant_send_give(q->e->counters, &q->id, &q->take);
		log_error("event=spool-error id=%s tenant=%s error=\"%s\"", q->out->id, q->id.tenant, strerror(rc));
		q->out->id[0] = '\0';
		return inject_q_fail(q, INJECT_Q_UNAVAILABLE, "%s%s", "queue file write error: try again later", "");
	}
	q->out->held = q->rep.hold_reason[0] != '\0';
	if (q->e->rep != NULL)
		rep_note(q->e->rep, q->id.tenant_id, REP_SENT, (long long)q->naccepted, time(NULL));
	tenant_send_queued(q->e->qmgr, q->out->id, q->id.tenant_id, inject_q_first(q), q->rep.hold_reason,
	    q->rep.hold_review);
	return INJECT_Q_OK;
}

enum inject_result
inject_queue(const struct inject_env *e, long long tenant_id, const char *client_ip,
    const struct inject_msg *m, struct inject_outcome *out)
{
	struct inject_q q = { .e = e, .m = m, .client = client_ip, .out = out };
	enum inject_result r;

	memset(out, 0, sizeof(*out));
	if ((r = inject_q_rules(&q, tenant_id)) != INJECT_Q_OK || (r = inject_q_suppress(&q)) != INJECT_Q_OK)
		return r;
	/* every recipient suppressed: nothing is sent, nothing counts */
	if (q.naccepted > 0 && (r = inject_q_commit(&q)) != INJECT_Q_OK)
		return r;
	inject_q_log(&q);
	inject_q_events(&q);
	return INJECT_Q_OK;
}

void
inject_outcome_free(struct inject_outcome *out)
{
	free(out->suppressed);
	out->suppressed = NULL;
}
