/*
 * smtp_tenant.c - the relay service's rules for a tenant's session (an
 * account or API key after AUTH, or a connector matched by the client's
 * address): suspension, sender domains at MAIL and in From:, rate limits
 * and recipients per message. Sessions without a tenant (kind NONE:
 * users-file users, relay_networks, the local socket) skip all of it.
 * STANDARDS: RFC 5321 4.5.3.1.10 (452 for too many recipients), RFC 3463
 * (5.7.1 policy, 4.7.1 rate, 4.5.3 recipients), RFC 5322 3.6 (From:).
 * SECURITY: the state is read again at each MAIL (state_ident_refresh), so
 * a suspension or revocation applies to sessions already open. Counters are
 * taken atomically at the end of DATA, before the 250, and given back when
 * the commit fails. The windows, texts and enforcement are
 * policy/tenant_send.c's, shared with the HTTP API.
 */
#include "smtp/smtp_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/sender.h"
#include "policy/tenant_send.h"
#include "state/counters.h"
#include "util/log.h"
#include "util/xmalloc.h"

static bool
smtp_tenant_active(const struct smtp_session *s)
{
	return s->ident.kind != STATE_IDENT_NONE && s->h->state != NULL;
}

static void
smtp_tenant_log_refusal(struct smtp_session *s, const char *stage, const char *reply)
{
	char qr[2100];

	/* tenant and subject are names ferryctl validated; the reply may echo
	 * the client's text */
	log_info("event=tenant-refused sid=%llu client=%s tenant=%s %s=%s stage=%s reply=%s",
	    s->sid, s->addr, s->ident.tenant, tenant_send_kind_name(s->ident.kind), s->ident.subject,
	    stage, log_quote(qr, sizeof(qr), reply, strlen(reply)));
}

/* A connector's network holds the client: it relays as that tenant. */
void
smtp_tenant_connect(struct smtp_session *s)
{
	struct state_ident id;
	int rc;

	if (s->role == CONF_ROLE_LOCAL || s->peer.ss_family == AF_UNIX || s->h->state == NULL)
		return;
	rc = state_connector_match(s->h->state, (const struct sockaddr *)&s->peer, &id);
	if (rc < 0)
		log_error("event=connector-lookup-failed sid=%llu client=%s effect=\"no connector\"",
		    s->sid, s->addr);
	if (rc != 1)
		return;
	s->ident = id;
	log_info("event=connector sid=%llu client=%s tenant=%s connector=%s", s->sid, s->addr,
	    id.tenant, id.subject);
}

/* A window already full at MAIL: refuse early instead of after DATA. */
static const char *
smtp_tenant_rate_check(struct smtp_session *s, char *buf, size_t bufsz)
{
	char text[400];

	if (tenant_send_rate_full(s->h->counters, &s->ident, text, sizeof(text)) == NULL)
		return NULL;
	snprintf(buf, bufsz, "451 4.7.1 %s", text);
	return buf;
}

/* May the tenant send as domain (lowercase A-labels)? The answer for the
 * transaction's last allowed domain is kept: MAIL FROM and From: name the
 * same domain in most messages, so the state is asked once per message.
 * (Within a transaction the state read at MAIL holds, as for a key revoked
 * after MAIL.) */
static int
smtp_tenant_domain_ok(void *arg, const char *domain)
{
	struct smtp_session *s = arg;
	char *memo = s->tx.allowed_domain;
	int rc;

	if (memo[0] != '\0' && strcmp(memo, domain) == 0)
		return 1;
	rc = state_sender_allowed(s->h->state, &s->ident, domain);
	if (rc == 1 && strlen(domain) < sizeof(s->tx.allowed_domain))
		strcpy(memo, domain);
	return rc;
}

/* The reverse-path's domain must be the tenant's. The null reverse-path
 * (<>, RFC 5321 4.5.5: notifications) names no domain and is allowed; the
 * From: check still applies to its content. */
static const char *
smtp_tenant_sender_check(struct smtp_session *s, char *buf, size_t bufsz)
{
	const struct smtp_path *p = &s->tx.sender;
	char domain[SMTP_PATH_MAX + 1];
	int rc = 0;

	if (p->len == 0)
		return NULL;
	/* An SMTPUTF8 domain is compared by its A-labels, as in From:. */
	if (smtp_path_domain_lower(p, domain, sizeof(domain)) &&
	    (!p->utf8 || sender_domain_alabel(domain, domain, sizeof(domain))))
		rc = smtp_tenant_domain_ok(s, domain);
	if (rc < 0)
		return "451 4.3.0 Temporary failure: tenant state unavailable";
	if (rc == 0) {
		snprintf(buf, bufsz, "550 5.7.1 Sender <%.*s> is not in a domain of tenant %s",
		    (int)p->len, p->addr, s->ident.tenant);
		return buf;
	}
	return NULL;
}

static const char *
smtp_tenant_throttle_reply(const struct smtp_session *s, const char *code, const char *reason,
    char *buf, size_t bufsz)
{
	char text[400];

	tenant_send_throttle_text(&s->ident, s->tx.throttle_rcpts, reason, text, sizeof(text));
	snprintf(buf, bufsz, "%s %s", code, text);
	return buf;
}

/* Reputation enforcement at MAIL (src/reputation/): a throttled tenant
 * gets abuse_throttle_rate recipients an hour: refused at MAIL once they
 * are used, at RCPT past what is left (smtp_tenant_rcpt_check), and the
 * end of DATA takes them for good. Counting recipients, not messages, is
 * what stops a campaign: one message may carry max_recipients of them.
 * A tenant under review has its message held. A suspension is
 * tenants.suspended, refused before this. */
static const char *
smtp_tenant_rep_check(struct smtp_session *s, char *buf, size_t bufsz)
{
	struct tenant_send_rep r;
	char text[400];
	int rc = tenant_send_rep_check(s->h->state, s->h->rep, s->h->counters, &s->ident, &r, text,
	    sizeof(text));

	if (rc < 0)
		return "451 4.3.0 Temporary failure: tenant state unavailable";
	s->tx.throttle_rcpts = r.throttle_rcpts;
	if (r.hold_review) {
		snprintf(s->tx.hold_reason, sizeof(s->tx.hold_reason), "%s", r.hold_reason);
		s->tx.hold_review = true;
	}
	if (rc == 0)
		return NULL;
	snprintf(buf, bufsz, "451 4.7.1 %s", text);
	return buf;
}

static const char *
smtp_tenant_mail_decide(struct smtp_session *s, char *buf, size_t bufsz)
{
	char reason[160];
	const char *err;
	int rc = state_ident_refresh(s->h->state, &s->ident);

	if (rc < 0)
		return "451 4.3.0 Temporary failure: tenant state unavailable";
	if (rc == 0)
		return s->ident.kind == STATE_IDENT_CONNECTOR
		    ? "550 5.7.1 The connector of this client no longer exists"
		    : "550 5.7.1 The credentials of this session were revoked: authenticate again";
	if (s->ident.suspended) {
		tenant_send_reason(&s->ident, reason, sizeof(reason));
		snprintf(buf, bufsz, "550 5.7.1 Tenant %s is suspended: %s", s->ident.tenant, reason);
		return buf;
	}
	if ((err = smtp_tenant_sender_check(s, buf, bufsz)) != NULL)
		return err;
	if ((err = smtp_tenant_rep_check(s, buf, bufsz)) != NULL)
		return err;
	return smtp_tenant_rate_check(s, buf, bufsz);
}

/* MAIL FROM (the reverse-path is parsed into s->tx.sender). */
const char *
smtp_tenant_mail_check(struct smtp_session *s, char *buf, size_t bufsz)
{
	const char *err;

	if (!smtp_tenant_active(s))
		return NULL;
	if (s->ident.kind == STATE_IDENT_CONNECTOR && s->role == CONF_ROLE_MX) {
		s->tx.tenant_pending = true;   /* decided by the recipients */
		return NULL;
	}
	err = smtp_tenant_mail_decide(s, buf, bufsz);
	if (err != NULL)
		smtp_tenant_log_refusal(s, "mail", err);
	else
		s->tx.as_tenant = true;
	return err;
}

const char *
smtp_tenant_relay_rcpt(struct smtp_session *s, char *buf, size_t bufsz)
{
	const char *err;

	if (!s->tx.tenant_pending || s->tx.as_tenant)
		return NULL;
	err = smtp_tenant_mail_decide(s, buf, bufsz);
	if (err != NULL) {
		smtp_tenant_log_refusal(s, "rcpt", err);
		return err;
	}
	s->tx.as_tenant = true;
	return NULL;
}

/* RCPT TO: recipients per message, the smaller of the tenant's and the
 * subject's nonzero limits; a throttled tenant's recipients left this hour
 * (452, RFC 5321 4.5.3.1.10: the client sends the rest later). Dropped
 * (suppressed) recipients are never delivered and do not count there. */
const char *
smtp_tenant_rcpt_check(struct smtp_session *s, char *buf, size_t bufsz)
{
	long long t = s->ident.tenant_limits.rcpts, u = s->ident.subject_limits.rcpts;
	bool by_tenant = t > 0 && (u <= 0 || t <= u);
	long long limit = by_tenant ? t : u;

	if (s->tx.as_tenant && s->tx.throttle_rcpts > 0 &&
	    tenant_send_rcpts_used(s->h->counters, &s->ident) + (long long)s->tx.nrcpts >= s->tx.throttle_rcpts) {
		smtp_tenant_throttle_reply(s, "452 4.7.1", "", buf, bufsz);
		smtp_tenant_log_refusal(s, "rcpt", buf);
		return buf;
	}
	if (!s->tx.as_tenant || limit <= 0 || s->tx.nrcpts + s->tx.ndropped < (size_t)limit)
		return NULL;
	snprintf(buf, bufsz, "452 4.5.3 Too many recipients: %s %s allows %lld per message",
	    by_tenant ? "tenant" : tenant_send_kind_name(s->ident.kind),
	    by_tenant ? s->ident.tenant : s->ident.subject, limit);
	smtp_tenant_log_refusal(s, "rcpt", buf);
	return buf;
}

/* Keep the header section of a tenant's message as it streams to the
 * spool (normalised CRLF content, without our Received:), up to the empty
 * line or SENDER_HEADER_MAX octets. */
void
smtp_tenant_header_capture(struct smtp_session *s, const char *p, size_t len)
{
	struct smtp_tx *tx = &s->tx;
	size_t from, room, n, cap;
	const char *end;

	if (!tx->as_tenant || tx->kind == SMTP_TX_RETURN_PATH || tx->hdr_done || tx->hdr_overflow ||
	    len == 0)
		return;   /* a return-path report is recorded, never From:-checked */
	/* Grow by doubling from 8 KiB: most header sections are small. */
	for (cap = 8192; cap < tx->hdr_len + len && cap < SENDER_HEADER_MAX; cap *= 2)
		;
	if (cap > SENDER_HEADER_MAX)
		cap = SENDER_HEADER_MAX;
	if (tx->hdr == NULL || cap > tx->hdr_cap) {
		tx->hdr = xrealloc(tx->hdr, cap);
		tx->hdr_cap = cap;
	}
	room = cap - tx->hdr_len;
	n = len < room ? len : room;
	memcpy(tx->hdr + tx->hdr_len, p, n);
	from = tx->hdr_len > 3 ? tx->hdr_len - 3 : 0;
	tx->hdr_len += n;
	if (tx->hdr_len >= 2 && tx->hdr[0] == '\r' && tx->hdr[1] == '\n') {
		tx->hdr_len = 0;   /* no header at all */
		tx->hdr_done = true;
		return;
	}
	end = memmem(tx->hdr + from, tx->hdr_len - from, "\r\n\r\n", 4);
	if (end != NULL) {
		tx->hdr_len = (size_t)(end - tx->hdr) + 2;
		tx->hdr_done = true;
	} else if (tx->hdr_len == SENDER_HEADER_MAX)
		tx->hdr_overflow = true;
}

static const char *
smtp_tenant_from_check(struct smtp_session *s, char *buf, size_t bufsz)
{
	struct smtp_tx *tx = &s->tx;
	struct sender_result r;
	char addr[SENDER_ADDR_MAX + 1];

	if (tx->hdr_overflow) {
		snprintf(buf, bufsz, "552 5.3.4 Header section larger than %d octets", SENDER_HEADER_MAX);
		return buf;
	}
	switch (sender_from_check(tx->hdr != NULL ? tx->hdr : "", tx->hdr_len, smtp_tenant_domain_ok, s, &r)) {
	case SENDER_OK:
		return NULL;
	case SENDER_NO_FROM:
		return "550 5.7.1 Message has no From: field (RFC 5322 3.6 requires one)";
	case SENDER_MANY_FROM:
		snprintf(buf, bufsz, "550 5.7.1 Message has %zu From: fields (RFC 5322 3.6 allows one)", r.nfrom);
		return buf;
	case SENDER_BAD_FROM:
		return "550 5.7.1 The From: field is empty or cannot be parsed";
	case SENDER_FOREIGN:
		tenant_send_printable(r.addr, false, addr, sizeof(addr));
		snprintf(buf, bufsz, "550 5.7.1 From: address <%s> is not in a domain of tenant %s",
		    addr, s->ident.tenant);
		return buf;
	case SENDER_ERROR:
		break;
	}
	return "451 4.3.0 Temporary failure: tenant state unavailable";
}

/* Take one message from every window and the message's recipients from
 * the tenant's hour of recipients (limited while throttled: another
 * session may have used the rest since RCPT), all or none. */
static const char *
smtp_tenant_rate_take(struct smtp_session *s, char *buf, size_t bufsz)
{
	char text[400];
	int rc = tenant_send_take(s->h->counters, &s->ident, s->tx.throttle_rcpts, (long long)s->tx.nrcpts,
	    &s->tx.take, text, sizeof(text));

	if (rc < 0)
		return "451 4.3.0 Temporary failure: rate counters unavailable";
	if (rc == 0)
		return NULL;
	snprintf(buf, bufsz, "451 4.7.1 %s", text);
	return buf;
}

/* End of DATA, before the commit: From: lockdown, then the rate limits. */
const char *
smtp_tenant_content_check(struct smtp_session *s, char *buf, size_t bufsz)
{
	const char *err;

	if (!s->tx.as_tenant)
		return NULL;   /* (a return-path report never gets here) */
	err = smtp_tenant_from_check(s, buf, bufsz);
	if (err == NULL)
		err = smtp_tenant_rate_take(s, buf, bufsz);
	if (err != NULL)
		smtp_tenant_log_refusal(s, "data", err);
	return err;
}

/* The message was not accepted after all (the commit failed, a content
 * filter refused it, the session went away during its scan): it does not
 * count against the tenant's windows. */
void
smtp_tenant_commit_failed(struct smtp_session *s)
{
	tenant_send_give(s->h->counters, &s->ident, &s->tx.take);
}
