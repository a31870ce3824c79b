/*
 * tenant_send.c - the rules of a tenant's message shared by SMTP
 * submission and the HTTP API (see tenant_send.h): counter windows, rate
 * texts, reputation enforcement, suppression lookup, the X-Ferry-Ref:
 * header and the queue manager hand-off.
 * STANDARDS: none of its own (the callers' replies carry the codes).
 * SECURITY: counters are taken atomically (counters_take) and given back
 * only for a message that was not accepted; text from a remote bounce (a
 * suppression's cause) is made printable before it reaches a reply.
 */
#include "policy/tenant_send.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "queue/qmgr.h"
#include "reputation/rep.h"
#include "state/verp.h"

static const int tenant_send_periods[3] = { 60, 3600, 86400 };

const char *
tenant_send_kind_name(enum state_ident_kind k)
{
	static const char *const names[] = { "none", "account", "key", "connector" };

	return (size_t)k < sizeof(names) / sizeof(names[0]) ? names[k] : "none";
}

void
tenant_send_printable(const char *in, bool space, char *out, size_t outsz)
{
	size_t o = 0;

	for (; *in != '\0' && o + 1 < outsz; in++)
		out[o++] = ((*in > 0x20 || (space && *in == 0x20)) && *in < 0x7f) ? *in : '?';
	out[o] = '\0';
}

void
tenant_send_reason(const struct state_ident *id, char *out, size_t outsz)
{
	tenant_send_printable(id->suspend_reason, true, out, outsz);
	if (out[0] == '\0')
		snprintf(out, outsz, "no reason given");
}

size_t
tenant_send_windows(const struct state_ident *id, struct counter_spec specs[TENANT_SEND_WINDOWS])
{
	static const char key_letter[] = { '?', 'a', 'k', 'c' };
	const long long tl[3] = { id->tenant_limits.per_minute, id->tenant_limits.per_hour,
	    id->tenant_limits.per_day };
	const long long sl[3] = { id->subject_limits.per_minute, id->subject_limits.per_hour,
	    id->subject_limits.per_day };
	size_t n = id->subject_id != 0 ? 6 : 3;

	for (size_t i = 0; i < 3; i++) {
		snprintf(specs[i].key, sizeof(specs[i].key), "t:%lld", id->tenant_id);
		specs[i].period = tenant_send_periods[i];
		specs[i].limit = tl[i];
		if (n < 6)
			continue;
		snprintf(specs[3 + i].key, sizeof(specs[3 + i].key), "%c:%lld",
		    key_letter[(size_t)id->kind < sizeof(key_letter) ? id->kind : 0], id->subject_id);
		specs[3 + i].period = tenant_send_periods[i];
		specs[3 + i].limit = sl[i];
	}
	return n;
}

/* "Rate limit reached: ..." for window i, ending at reset. */
static const char *
tenant_send_rate_text(const struct state_ident *id, const struct counter_spec *specs, size_t i,
    time_t now, time_t reset, char *buf, size_t bufsz)
{
	static const char *const unit[3] = { "minute", "hour", "day" };
	struct tm tm;

	gmtime_r(&reset, &tm);
	snprintf(buf, bufsz, "Rate limit reached: %s %s may send %lld messages per %s;"
	    " resets at %02d:%02d:%02d UTC (in %lld s)",
	    i < 3 ? "tenant" : tenant_send_kind_name(id->kind), i < 3 ? id->tenant : id->subject,
	    specs[i].limit, unit[i % 3], tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)(reset - now));
	return buf;
}

const char *
tenant_send_rate_full(struct counters *c, const struct state_ident *id, char *buf, size_t bufsz)
{
	struct counter_spec specs[TENANT_SEND_WINDOWS];
	size_t n = tenant_send_windows(id, specs);
	time_t now = time(NULL);

	for (size_t i = 0; i < n; i++) {
		if (specs[i].limit <= 0 || counters_get(c, specs[i].key, specs[i].period, now) < specs[i].limit)
			continue;
		return tenant_send_rate_text(id, specs, i, now, (now / specs[i].period + 1) * specs[i].period,
		    buf, bufsz);
	}
	return NULL;
}

/* The tenant's recipients of the current UTC hour ("r:ID"): counted for
 * every message, limited only while it is throttled, so a throttle that
 * starts mid-hour counts what the hour already sent. */
static void
tenant_send_rcpt_window(const struct state_ident *id, long long limit, struct counter_spec *spec)
{
	snprintf(spec->key, sizeof(spec->key), "r:%lld", id->tenant_id);
	spec->period = 3600;
	spec->limit = limit;
}

long long
tenant_send_rcpts_used(struct counters *c, const struct state_ident *id)
{
	struct counter_spec spec;

	tenant_send_rcpt_window(id, 0, &spec);
	return counters_get(c, spec.key, spec.period, time(NULL));
}

const char *
tenant_send_throttle_text(const struct state_ident *id, long long rate, const char *reason, char *buf,
    size_t bufsz)
{
	snprintf(buf, bufsz, "Tenant %s is throttled to %lld recipients per hour%s%s; try again later",
	    id->tenant, rate, reason[0] != '\0' ? ": " : "", reason);
	return buf;
}

/* A throttled tenant gets abuse_throttle_rate recipients an hour (refused
 * once they are used); a tenant under review has its message held. A
 * suspension is tenants.suspended, checked by the caller before this. */
int
tenant_send_rep_check(struct state *st, struct rep *rep, struct counters *c, const struct state_ident *id,
    struct tenant_send_rep *r, char *buf, size_t bufsz)
{
	struct rep_enforce e;
	long long rate;
	int rc;

	memset(r, 0, sizeof(*r));
	if (rep == NULL)
		return 0;
	if ((rc = rep_enforce_read(st, id->tenant_id, &e)) < 0)
		return -1;
	if (rc == 0 || e.state == REP_NONE)
		return 0;
	tenant_send_printable(e.reason, true, r->reason, sizeof(r->reason));
	if (e.state == REP_REVIEW) {
		char held[sizeof(id->tenant) + sizeof(r->reason) + 32];
		/* cut to the spool's hold record size */
		snprintf(held, sizeof(held), "tenant %s" QMGR_REVIEW_MARK "%s", id->tenant, r->reason);
		snprintf(r->hold_reason, sizeof(r->hold_reason), "%.*s", (int)sizeof(r->hold_reason) - 1, held);
		r->hold_review = true;
		return 0;
	}
	if (e.state != REP_THROTTLED)
		return 0;
	rate = rep_throttle_rate(rep, &e);
	r->throttle_rcpts = rate > 0 ? rate : 1;
	if (tenant_send_rcpts_used(c, id) < r->throttle_rcpts)
		return 0;
	tenant_send_throttle_text(id, r->throttle_rcpts, r->reason, buf, bufsz);
	return 1;
}

int
tenant_send_take(struct counters *c, const struct state_ident *id, long long throttle_rcpts,
    long long nrcpts, struct tenant_send_take *t, char *buf, size_t bufsz)
{
	struct counter_spec specs[TENANT_SEND_WINDOWS], spec;
	size_t n = tenant_send_windows(id, specs);
	struct counter_deny deny;
	time_t now = time(NULL);
	int rc = counters_take(c, specs, n, 1, now, &deny);

	memset(t, 0, sizeof(*t));
	if (rc < 0)
		return -1;
	if (rc == 1) {
		tenant_send_rate_text(id, specs, deny.index, now, deny.reset, buf, bufsz);
		return 1;
	}
	t->counted = true;
	t->at = now;
	/* limited while throttled: another session may have used the rest */
	tenant_send_rcpt_window(id, throttle_rcpts, &spec);
	rc = counters_take(c, &spec, 1, nrcpts, now, &deny);
	if (rc == 0) {
		t->rcpts_counted = true;
		t->nrcpts = nrcpts;
		return 0;
	}
	counters_give(c, specs, n, 1, now);
	t->counted = false;
	if (rc < 0)
		return -1;
	tenant_send_throttle_text(id, throttle_rcpts, "", buf, bufsz);
	return 1;
}

void
tenant_send_give(struct counters *c, const struct state_ident *id, struct tenant_send_take *t)
{
	struct counter_spec specs[TENANT_SEND_WINDOWS], spec;

	if (!t->counted)
		return;
	counters_give(c, specs, tenant_send_windows(id, specs), 1, t->at);
	t->counted = false;
	if (t->rcpts_counted) {
		tenant_send_rcpt_window(id, 0, &spec);
		counters_give(c, &spec, 1, t->nrcpts, t->at);
		t->rcpts_counted = false;
	}
}

int
tenant_send_suppressed(struct state *st, long long tenant_id, const char *addr, size_t len,
    struct suppression *sup, enum suppress_mode *mode)
{
	int rc = state_suppression_get(st, tenant_id, addr, len, time(NULL), sup);

	*mode = SUPPRESS_MODE_REJECT;
	if (rc == 1 && state_tenant_suppress_mode(st, tenant_id, mode) < 0)
		rc = -1;
	return rc;
}

void
tenant_send_suppress_detail(const struct suppression *sup, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s%s%s", suppress_reason_name(sup->reason), sup->cause[0] != '\0' ? ": " : "",
	    sup->cause);
}

int
tenant_send_ref_header(struct state *st, long long tenant_id, const char *queue_id, const char *rcpt,
    char *out, size_t outsz)
{
	struct verp_info vi = { .tenant_id = tenant_id, .rcpt_index = 0 };
	unsigned char secret[32];
	char ref[VERP_LOCAL_MAX + 1];
	int n;

	if (state_verp_secret(st, secret) != 0)
		return -1;
	snprintf(vi.queue_id, sizeof(vi.queue_id), "%s", queue_id);
	if (rcpt != NULL)     /* one recipient: the header names its address too */
		verp_rcpt_bind(secret, &vi, rcpt);
	verp_ref_make(secret, &vi, ref, sizeof(ref));
	sodium_memzero(secret, sizeof(secret));
	n = snprintf(out, outsz, VERP_REF_HEADER ": %s\r\n", ref);
	return n > 0 && (size_t)n < outsz ? n : -1;
}

void
tenant_send_queued(struct qmgr *q, const char *id, long long tenant_id, const char *first_rcpt,
    const char *hold_reason, bool review)
{
	const char *at = strrchr(first_rcpt, '@');

	if (q == NULL)
		return;
	if (hold_reason[0] != '\0')
		qmgr_msg_held(q, id, tenant_id, at != NULL ? at + 1 : "", review);
	else
		qmgr_msg_add(q, id, tenant_id, at != NULL ? at + 1 : "");
}
