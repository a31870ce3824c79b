/*
 * smtp_return_path.c - bounces and complaints coming back to a tenant's
 * return path "b+TOKEN@<bounce domain>" (state/verp.h) or complaint
 * address "<complaint_local_part>@<bounce domain>": the token is checked
 * at RCPT, the message is attributed (a row in table bounces) and queued
 * as a report, which delivery reads instead of delivering (feedback.h). A transaction holds either such recipients or ordinary
 * ones, never both (smtp_cmd.c refuses the later kind with 452 4.5.3).
 * STANDARDS: RFC 5321 4.5.5 (bounces have a null reverse-path; any is
 * taken here), RFC 3463 5.1.1.
 * SECURITY: the token comes from anyone on the Internet: verp_local_check
 * authenticates it (HMAC, constant time) and its tenant must own the
 * domain. The row is committed (synchronous=FULL) before the report is
 * handed to the spool's committer, whose durable commit alone allows the
 * 250; a failed commit after the row leaves an extra attribution row (a
 * retry repeats it), never a lost report. The write runs on the worker's
 * loop: a short fsync, and bounces are few next to mail.
 */
#include "smtp/smtp_internal.h"

#include <ctype.h>
#include <sodium.h>
#include "db/db.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/log.h"
#include "util/xmalloc.h"

static const char smtp_rp_forged[] = "550 5.1.1 Unknown or forged return-path address";

/* A path's domain, lowercase, without a trailing dot; false when it has
 * none (or an address literal). smtp_path_parse stored the domain
 * lowercased already: this only copies it out. */
bool
smtp_path_domain_lower(const struct smtp_path *p, char *out, size_t outsz)
{
	size_t n;

	if (p->literal || p->at >= p->len || outsz == 0)
		return false;
	n = p->len - p->at - 1;
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, p->addr + p->at + 1, n);
	if (n > 0 && out[n - 1] == '.')
		n--;
	out[n] = '\0';
	return n > 0;
}

/* The bounce domain's complaint address, LOCAL@domain (complaint_local_part)? */
static bool
smtp_rp_is_complaint_address(const struct smtp_session *s, const struct smtp_path *p)
{
	const char *local = s->conf->complaint_local_part;

	return local != NULL && strlen(local) == p->at && strncasecmp(p->addr, local, p->at) == 0;
}

const char *
smtp_return_path_rcpt(struct smtp_session *s, struct smtp_rcpt *r)
{
	const struct smtp_path *p = &r->path;
	char domain[SMTP_PATH_MAX + 1], q[300];
	unsigned char secret[32];
	struct state_tenant t;
	bool genuine;
	int rc;

	if (s->h->state == NULL || !smtp_path_domain_lower(p, domain, sizeof(domain)))
		return NULL;
	rc = state_tenant_by_bounce_domain(s->h->state, domain, &t);
	if (rc < 0)
		return "451 4.3.0 Temporary failure: tenant state unavailable";
	if (rc == 0)
		return NULL;
	if (smtp_rp_is_complaint_address(s, p)) {
		/* complaints: tied to a message later, by the report's content */
		r->is_return_path = true;
		r->verp.tenant_id = t.id;
		return "";
	}
	/* Other addresses of a bounce domain that is also hosted here are
	 * ordinary recipients; otherwise the domain takes tokens only. */
	if (!(p->at >= 2 && (p->addr[0] == 'b' || p->addr[0] == 'B') && p->addr[1] == '+') &&
	    conf_domain_hosted(s->conf, domain))
		return NULL;
	if (state_verp_secret(s->h->state, secret) != 0)
		return "451 4.3.0 Temporary failure: tenant state unavailable";
	genuine = verp_local_check(secret, p->addr, p->at, &r->verp) && r->verp.tenant_id == t.id;
	sodium_memzero(secret, sizeof(secret));
	if (!genuine) {
		log_info("event=return-path-refused sid=%llu client=%s to=%s tenant=%s reason=\"forged or unknown token\"",
		    s->sid, s->addr, log_quote(q, sizeof(q), p->addr, p->len), t.name);
		return smtp_rp_forged;
	}
	r->is_return_path = true;
	return "";
}

/* Queue ids are upper-case hex; tokens carry them lowercase. */
static void
smtp_rp_qid_upper(const struct verp_info *v, char out[sizeof(v->queue_id)])
{
	size_t k;

	for (k = 0; v->queue_id[k] != '\0' && k + 1 < sizeof(v->queue_id); k++)
		out[k] = (char)toupper((unsigned char)v->queue_id[k]);
	out[k] = '\0';
}

static void
smtp_rp_log(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;
	struct state_tenant t;
	char q[300];

	for (size_t i = 0; i < tx->nrcpts; i++) {
		const struct verp_info *v = &tx->rcpts[i].verp;
		char qid[sizeof(v->queue_id)];
		if (v->queue_id[0] == '\0')
			continue;     /* the complaint address: tied when the report is read */
		smtp_rp_qid_upper(v, qid);
		if (state_tenant_by_id(s->h->state, v->tenant_id, &t) != 1)
			snprintf(t.name, sizeof(t.name), "#%lld", v->tenant_id);
		log_info("event=bounce-attributed tenant=%s queue_id=%s rcpt_index=%u client=%s sid=%llu from=%s",
		    t.name, qid, v->rcpt_index, s->addr, s->sid,
		    log_quote(q, sizeof(q), tx->sender.addr, tx->sender.len));
	}
}

int
smtp_return_path_record(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;
	struct state_bounce *b = xcalloc(tx->nrcpts, sizeof(*b));
	size_t n = 0;
	int rc;

	for (size_t i = 0; i < tx->nrcpts; i++) {
		const struct smtp_rcpt *r = &tx->rcpts[i];
		if (r->verp.queue_id[0] == '\0')
			continue;     /* the complaint address */
		b[n].tenant_id = r->verp.tenant_id;
		smtp_rp_qid_upper(&r->verp, b[n].queue_id);
		b[n].rcpt_index = r->verp.rcpt_index;
		b[n].rcpt = r->path.addr;
		b[n].rcpt_len = r->path.len;
		n++;
	}
	rc = n == 0 ? 0 : state_bounces_record(s->h->state, time(NULL), b, n, tx->sender.addr,
	    tx->sender.len, s->addr);
	free(b);
	if (rc == 0)
		smtp_rp_log(s);
	else
		log_error("event=bounce-record-failed sid=%llu client=%s error=\"%s\"", s->sid, s->addr,
		    db_errmsg(state_db(s->h->state)));
	return rc;
}
