/*
 * smtp_suppress.c - tenants' suppression lists at RCPT: a recipient on the
 * sending tenant's list (state/suppress.h) is refused with 550 5.7.1 naming
 * the suppression (date, reason, cause), or, for a tenant whose
 * suppress_mode is drop, accepted and left out of the queue file; a message
 * left with no recipient is answered 250 and not queued. A dropped
 * recipient of an accepted message is recorded as a `suppressed` event
 * (state/events.h), all of a message's in one write.
 * STANDARDS: RFC 5321 4.2.2 / 4.5.3.1.5 (one reply line, 512 octets),
 * RFC 3463 (5.7.1 delivery not authorized, 4.3.0 temporary system failure).
 * SECURITY: only tenant transactions (as_tenant) are looked up, never
 * ordinary inbound mail. The cause is text from a remote bounce: it reaches
 * the reply as printable ASCII only, and the log through log_quote.
 */
#include "smtp/smtp_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "state/events.h"
#include "state/suppress.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define SMTP_SUPPRESS_REPLY_MAX 508   /* text of a reply line, without CRLF */

/* "550 5.7.1 <addr>: recipient suppressed for tenant T since YYYY-MM-DD
 * (REASON: CAUSE)" within one reply line: the cause is what gets shortened. */
static const char *
smtp_suppress_reply(const struct smtp_session *s, const char *addr, const char *since,
    const struct suppression *sup, char *buf, size_t bufsz)
{
	char cause[SUPPRESS_CAUSE_MAX + 1];
	size_t max = bufsz < SMTP_SUPPRESS_REPLY_MAX ? bufsz : SMTP_SUPPRESS_REPLY_MAX;
	const char *reason = suppress_reason_name(sup->reason);
	int n;

	tenant_send_printable(sup->cause, true, cause, sizeof(cause));
	n = snprintf(buf, max, "550 5.7.1 <%s>: recipient suppressed for tenant %s since %s (%s",
	    addr, s->ident.tenant, since, reason);
	if (n < 0 || (size_t)n + 2 >= max) {
		snprintf(buf, max, "550 5.7.1 Recipient suppressed for tenant %s since %s (%s)",
		    s->ident.tenant, since, reason);
		return buf;
	}
	if (cause[0] != '\0' && (size_t)n + 4 < max)
		n += snprintf(buf + n, max - (size_t)n, ": %.*s", (int)(max - (size_t)n - 4), cause);
	snprintf(buf + n, max - (size_t)n, ")");
	return buf;
}

static void
smtp_suppress_log(const struct smtp_session *s, const char *event, const struct smtp_path *p,
    const char *since, const struct suppression *sup)
{
	char qa[700], qc[600];

	log_info("event=%s sid=%llu client=%s tenant=%s rcpt=%s reason=%s since=%s cause=%s", event,
	    s->sid, s->addr, s->ident.tenant, log_quote(qa, sizeof(qa), p->addr, p->len),
	    suppress_reason_name(sup->reason), since,
	    log_quote(qc, sizeof(qc), sup->cause, strlen(sup->cause)));
}

/* Kept for the event at tx->dropped[ndropped]: the caller
 * (smtp_rcpt_suppressed) counts it in ndropped right after. The array
 * grows by one each time; max_recipients bounds it. */
static void
smtp_suppress_dropped_add(struct smtp_tx *tx, const struct smtp_path *p, const struct suppression *sup)
{
	char detail[sizeof(sup->cause) + 32];
	struct smtp_dropped *d;

	tenant_send_suppress_detail(sup, detail, sizeof(detail));
	tx->dropped = xrealloc(tx->dropped, (tx->ndropped + 1) * sizeof(*tx->dropped));
	d = &tx->dropped[tx->ndropped];
	d->rcpt = xstrndup(p->addr, p->len);
	d->detail = xstrdup(detail);
}

void
smtp_suppress_dropped_free(struct smtp_tx *tx)
{
	for (size_t i = 0; tx->dropped != NULL && i < tx->ndropped; i++) {
		free(tx->dropped[i].rcpt);
		free(tx->dropped[i].detail);
	}
	free(tx->dropped);
	tx->dropped = NULL;
}

const char *
smtp_suppress_rcpt_check(struct smtp_session *s, const struct smtp_path *p, char *buf, size_t bufsz)
{
	struct suppression sup;
	enum suppress_mode mode;
	char addr[SMTP_PATH_MAX + 1], since[16];
	struct tm tm;
	int rc;

	/* A connector's client on the mx listener also delivers inbound mail
	 * to hosted domains: that is not the tenant sending. */
	if (!s->tx.as_tenant || p->len == 0 || (s->tx.tenant_pending && s->tx.rcpt_local))
		return NULL;
	rc = tenant_send_suppressed(s->h->state, s->ident.tenant_id, p->addr, p->len, &sup, &mode);
	if (rc < 0) {
		log_error("event=suppression-lookup-failed sid=%llu client=%s tenant=%s", s->sid, s->addr,
		    s->ident.tenant);
		return "451 4.3.0 Temporary failure: suppression list unavailable";
	}
	if (rc == 0)
		return NULL;
	if (gmtime_r(&sup.time, &tm) == NULL || strftime(since, sizeof(since), "%Y-%m-%d", &tm) == 0)
		snprintf(since, sizeof(since), "?");
	if (mode == SUPPRESS_MODE_DROP) {
		smtp_suppress_log(s, "suppressed-dropped", p, since, &sup);
		smtp_suppress_dropped_add(&s->tx, p, &sup);
		return "";
	}
	smtp_suppress_log(s, "rcpt-suppressed", p, since, &sup);
	tenant_send_printable(p->addr, false, addr, sizeof(addr));
	return smtp_suppress_reply(s, addr, since, &sup, buf, bufsz);
}

void
smtp_suppress_msg_drop(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;
	char q[300];

	/* nothing is sent, so nothing counts against the tenant's rates */
	smtp_tenant_commit_failed(s);
	log_info("event=message-dropped sid=%llu client=%s id=%s from=%s tenant=%s dropped=%zu"
	    " reason=\"every recipient suppressed\"", s->sid, s->addr, tx->id,
	    log_quote(q, sizeof(q), tx->sender.addr, tx->sender.len), s->ident.tenant, tx->ndropped);
	s->strikes = 0;
	smtp_reply(s, "250 2.0.0 Ok: %s not queued, every recipient is suppressed", tx->id);
	smtp_events_suppressed(s);
	smtp_tx_reset(s);   /* aborts the spool file */
}
