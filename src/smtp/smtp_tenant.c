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
 * the commit fails.
 */
#include "smtp/smtp_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/sender.h"
#include "queue/qmgr.h"
#include "reputation/rep.h"
#include "state/counters.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define SMTP_TENANT_WINDOWS 6

static const char *const smtp_tenant_kind_name[] = { "none", "account", "key", "connector" };
static const char smtp_tenant_key_letter[] = { '?', 'a', 'k', 'c' };
static const int smtp_tenant_periods[3] = { 60, 3600, 86400 };

static bool
smtp_tenant_active(const struct smtp_session *s)
{
	return s->ident.kind != STATE_IDENT_NONE && s->h->state != NULL;
}

/* Reply text: printable ASCII only (spaces too when space), so hostile
 * text cannot break the reply line. */
void
smtp_tenant_printable(const char *in, bool space, char *out, size_t outsz)
{
	size_t o = 0;

	for (; *in != '\0' && o + 1 < outsz; in++)
		out[o++] = ((*in > 0x20 || (space && *in == 0x20)) && *in < 0x7f) ? *in : '?';
	out[o] = '\0';
}

/* The suspension reason as reply text. */
void
smtp_tenant_reason(const struct state_ident *id, char *out, size_t outsz)
{
	smtp_tenant_printable(id->suspend_reason, true, out, outsz);
	if (out[0] == '\0')
		snprintf(out, outsz, "no reason given");
}

static void
smtp_tenant_log_refusal(struct smtp_session *s, const char *stage, const char *reply)
{
	char qr[2100];

	/* tenant and subject are names ferryctl validated; the reply may echo
	 * the client's text */
	log_info("event=tenant-refused sid=%llu client=%s tenant=%s %s=%s stage=%s reply=%s",
	    s->sid, s->addr, s->ident.tenant, smtp_tenant_kind_name[s->ident.kind], s->ident.subject,
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

/* The counter windows of this identity: the tenant's three, then the
 * subject's three (a limit of 0 is counted all the same, for usage). */
static size_t
smtp_tenant_windows(const struct state_ident *id, struct counter_spec specs[SMTP_TENANT_WINDOWS])
{
	const long long tl[3] = { id->tenant_limits.per_minute, id->tenant_limits.per_hour,
	    id->tenant_limits.per_day };
	const long long sl[3] = { id->subject_limits.per_minute, id->subject_limits.per_hour,
	    id->subject_limits.per_day };

	for (size_t i = 0; i < 3; i++) {
		snprintf(specs[i].key, sizeof(specs[i].key), "t:%lld", id->tenant_id);
		specs[i].period = smtp_tenant_periods[i];
		specs[i].limit = tl[i];
		snprintf(specs[3 + i].key, sizeof(specs[3 + i].key), "%c:%lld",
		    smtp_tenant_key_letter[id->kind], id->subject_id);
		specs[3 + i].period = smtp_tenant_periods[i];
		specs[3 + i].limit = sl[i];
	}
	return SMTP_TENANT_WINDOWS;
}

/* "451 4.7.1 Rate limit reached: ..." for window i, ending at reset. */
static const char *
smtp_tenant_rate_reply(const struct state_ident *id, const struct counter_spec *specs, size_t i,
    time_t now, time_t reset, char *buf, size_t bufsz)
{
	static const char *const unit[3] = { "minute", "hour", "day" };
	struct tm tm;

	gmtime_r(&reset, &tm);
	snprintf(buf, bufsz, "451 4.7.1 Rate limit reached: %s %s may send %lld messages per %s;"
	    " resets at %02d:%02d:%02d UTC (in %lld s)",
	    i < 3 ? "tenant" : smtp_tenant_kind_name[id->kind], i < 3 ? id->tenant : id->subject,
	    specs[i].limit, unit[i % 3], tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)(reset - now));
	return buf;
}

/* A window already full at MAIL: refuse early instead of after DATA. */
static const char *
smtp_tenant_rate_check(struct smtp_session *s, char *buf, size_t bufsz)
{
	struct counter_spec specs[SMTP_TENANT_WINDOWS];
	size_t n = smtp_tenant_windows(&s->ident, specs);
	time_t now = time(NULL);

	for (size_t i = 0; i < n; i++) {
		if (specs[i].limit <= 0 ||
		    counters_get(s->h->counters, specs[i].key, specs[i].period, now) < specs[i].limit)
			continue;
		return smtp_tenant_rate_reply(&s->ident, specs, i, now,
		    (now / specs[i].period + 1) * specs[i].period, buf, bufsz);
	}
	return NULL;
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

/* The tenant's recipients of the current UTC hour ("r:ID"): counted for
 * every message, limited only while it is throttled, so a throttle that
 * starts mid-hour counts what the hour already sent. */
static void
smtp_tenant_rcpt_window(const struct state_ident *id, long long limit, struct counter_spec *spec)
{
	snprintf(spec->key, sizeof(spec->key), "r:%lld", id->tenant_id);
	spec->period = 3600;
	spec->limit = limit;
}

static long long
smtp_tenant_rcpts_used(struct smtp_session *s)
{
	struct counter_spec spec;

	smtp_tenant_rcpt_window(&s->ident, 0, &spec);
	return counters_get(s->h->counters, spec.key, spec.period, time(NULL));
}

static const char *
smtp_tenant_throttle_reply(const struct smtp_session *s, const char *code, const char *reason,
    char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "%s Tenant %s is throttled to %lld recipients per hour%s%s;"
	    " try again later", code, s->ident.tenant, s->tx.throttle_rcpts,
	    reason[0] != '\0' ? ": " : "", reason);
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
	struct state_ident *id = &s->ident;
	struct rep_enforce e;
	char reason[REP_REASON_MAX + 1];
	long long rate;
	int rc;

	if (s->h->rep == NULL)
		return NULL;
	if ((rc = rep_enforce_read(s->h->state, id->tenant_id, &e)) < 0)
		return "451 4.3.0 Temporary failure: tenant state unavailable";
	if (rc == 0 || e.state == REP_NONE)
		return NULL;
	smtp_tenant_printable(e.reason, true, reason, sizeof(reason));
	if (e.state == REP_REVIEW) {
		char held[sizeof(id->tenant) + sizeof(reason) + 32];
		/* cut to hold_reason's size (the spool's hold record) */
		snprintf(held, sizeof(held), "tenant %s" QMGR_REVIEW_MARK "%s", id->tenant, reason);
		snprintf(s->tx.hold_reason, sizeof(s->tx.hold_reason), "%.*s",
		    (int)sizeof(s->tx.hold_reason) - 1, held);
		s->tx.hold_review = true;
		return NULL;
	}
	if (e.state != REP_THROTTLED)
		return NULL;
	rate = rep_throttle_rate(s->h->rep, &e);
	s->tx.throttle_rcpts = rate > 0 ? rate : 1;
	if (smtp_tenant_rcpts_used(s) < s->tx.throttle_rcpts)
		return NULL;
	return smtp_tenant_throttle_reply(s, "451 4.7.1", reason, buf, bufsz);
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
		smtp_tenant_reason(&s->ident, reason, sizeof(reason));
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
	    smtp_tenant_rcpts_used(s) + (long long)s->tx.nrcpts >= s->tx.throttle_rcpts) {
		smtp_tenant_throttle_reply(s, "452 4.7.1", "", buf, bufsz);
		smtp_tenant_log_refusal(s, "rcpt", buf);
		return buf;
	}
	if (!s->tx.as_tenant || limit <= 0 || s->tx.nrcpts + s->tx.ndropped < (size_t)limit)
		return NULL;
	snprintf(buf, bufsz, "452 4.5.3 Too many recipients: %s %s allows %lld per message",
	    by_tenant ? "tenant" : smtp_tenant_kind_name[s->ident.kind],
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
		smtp_tenant_printable(r.addr, false, addr, sizeof(addr));
		snprintf(buf, bufsz, "550 5.7.1 From: address <%s> is not in a domain of tenant %s",
		    addr, s->ident.tenant);
		return buf;
	case SENDER_ERROR:
		break;
	}
	return "451 4.3.0 Temporary failure: tenant state unavailable";
}

/* Take the message's recipients from the tenant's hour of recipients
 * (limited while throttled: another session may have used the rest since
 * RCPT); refused, the message's own take is given back. */
static const char *
smtp_tenant_rcpts_take(struct smtp_session *s, time_t now, char *buf, size_t bufsz)
{
	struct counter_spec spec, specs[SMTP_TENANT_WINDOWS];
	struct counter_deny deny;
	int rc;

	smtp_tenant_rcpt_window(&s->ident, s->tx.throttle_rcpts, &spec);
	rc = counters_take(s->h->counters, &spec, 1, (long long)s->tx.nrcpts, now, &deny);
	if (rc == 0) {
		s->tx.rcpts_counted = true;
		return NULL;
	}
	counters_give(s->h->counters, specs, smtp_tenant_windows(&s->ident, specs), 1, now);
	s->tx.counted = false;
	if (rc < 0)
		return "451 4.3.0 Temporary failure: rate counters unavailable";
	return smtp_tenant_throttle_reply(s, "451 4.7.1", "", buf, bufsz);
}

/* Take one message from every window, all or none. */
static const char *
smtp_tenant_rate_take(struct smtp_session *s, char *buf, size_t bufsz)
{
	struct counter_spec specs[SMTP_TENANT_WINDOWS];
	size_t n = smtp_tenant_windows(&s->ident, specs);
	struct counter_deny deny;
	time_t now = time(NULL);
	int rc = counters_take(s->h->counters, specs, n, 1, now, &deny);

	if (rc < 0)
		return "451 4.3.0 Temporary failure: rate counters unavailable";
	if (rc == 1)
		return smtp_tenant_rate_reply(&s->ident, specs, deny.index, now, deny.reset, buf, bufsz);
	s->tx.counted = true;
	s->tx.counted_at = now;
	return smtp_tenant_rcpts_take(s, now, buf, bufsz);
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
	struct counter_spec specs[SMTP_TENANT_WINDOWS], spec;

	if (!s->tx.counted)
		return;
	counters_give(s->h->counters, specs, smtp_tenant_windows(&s->ident, specs), 1, s->tx.counted_at);
	s->tx.counted = false;
	if (s->tx.rcpts_counted) {
		smtp_tenant_rcpt_window(&s->ident, 0, &spec);
		counters_give(s->h->counters, &spec, 1, (long long)s->tx.nrcpts, s->tx.counted_at);
		s->tx.rcpts_counted = false;
	}
}
