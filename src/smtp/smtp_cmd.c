/*
 * smtp_cmd.c - SMTP commands other than AUTH and content: one table row per
 * command, with the state it requires checked before it proceeds.
 * STANDARDS: RFC 5321 4.1, 4.3.2 (replies), RFC 1870, RFC 2034/3463 (every
 * reply carries an enhanced status code), RFC 3461 DSN, RFC 6531 SMTPUTF8,
 * RFC 3030 CHUNKING, RFC 6409 (submission requires authentication).
 * SECURITY: addresses are parsed by smtp_parse.c; this file decides.
 */
#include "smtp/smtp_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "metrics/metrics.h"
#include "policy/relay.h"
#include "util/log.h"
#include "util/xmalloc.h"

struct smtp_cmd_row {
	enum smtp_verb verb;
	const char    *name;
	bool           needs_helo;
	bool           before_tls;   /* allowed where STARTTLS must come first */
	void         (*proceed)(struct smtp_session *, const char *, size_t);
};

void
smtp_tx_reset(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;

	if (tx->msg != NULL)
		spool_msg_abort(tx->msg);
	free(tx->rcpts);
	free(tx->hdr);
	smtp_suppress_dropped_free(tx);
	memset(tx, 0, sizeof(*tx));
}

/* Log a refusal of the transaction with its reason (before the reset
 * forgets the id and sender). */
void
smtp_tx_refusal_log(struct smtp_session *s, const char *event, const char *reply)
{
	struct smtp_tx *tx = &s->tx;
	char q[300], qr[2100];

	log_info("event=%s sid=%llu client=%s id=%s from=%s reply=%s", event, s->sid, s->addr,
	    tx->id[0] != '\0' ? tx->id : "-",
	    tx->active ? log_quote(q, sizeof(q), tx->sender.addr, tx->sender.len) : "-",
	    log_quote(qr, sizeof(qr), reply, strlen(reply)));
}

/* Every 4xx/5xx a transaction gets is logged and counted (errors= on the
 * disconnect line, and toward max_errors), storage failures included. */
void
smtp_tx_refuse(struct smtp_session *s, const char *event, const char *reply)
{
	smtp_tx_refusal_log(s, event, reply);
	smtp_reply_error(s, reply);
}

static void
smtp_ehlo_reply(struct smtp_session *s)
{
	bool starttls = !s->tls && s->snap->tls != NULL && s->role != CONF_ROLE_SUBMISSIONS;
	bool auth = s->tls && s->role != CONF_ROLE_MX && s->auth_user == NULL;

	smtp_reply(s, "250-%s", s->conf->hostname);
	smtp_reply(s, "250-PIPELINING");
	smtp_reply(s, "250-SIZE %lld", s->conf->max_message_size);
	if (starttls)
		smtp_reply(s, "250-STARTTLS");
	if (auth)
		smtp_reply(s, "250-AUTH PLAIN LOGIN");
	smtp_reply(s, "250-ENHANCEDSTATUSCODES");
	smtp_reply(s, "250-8BITMIME");
	smtp_reply(s, "250-DSN");
	smtp_reply(s, "250-SMTPUTF8");
	smtp_reply(s, "250 CHUNKING");
}

static void
smtp_helo_common(struct smtp_session *s, const char *arg, size_t len, bool esmtp)
{
	const char *err = smtp_helo_check(arg, len);

	if (err != NULL) {
		smtp_reply_error(s, err);
		return;
	}
	smtp_tx_reset(s);
	memcpy(s->helo, arg, len);
	s->helo[len] = '\0';
	s->helo_seen = true;
	s->esmtp = esmtp;
	if (esmtp)
		smtp_ehlo_reply(s);
	else
		smtp_reply(s, "250 %s", s->conf->hostname);
}

static void
smtp_cmd_ehlo(struct smtp_session *s, const char *arg, size_t len)
{
	smtp_helo_common(s, arg, len, true);
}

static void
smtp_cmd_helo(struct smtp_session *s, const char *arg, size_t len)
{
	smtp_helo_common(s, arg, len, false);
}

static struct smtp_ext
smtp_session_ext(const struct smtp_session *s)
{
	struct smtp_ext e = { .size = s->esmtp, .eightbitmime = s->esmtp,
	    .smtputf8 = s->esmtp, .dsn = s->esmtp, .auth = s->esmtp, .binarymime = false };
	return e;
}

/* RFC 6409 and ferry's policy: submission listeners take mail only from
 * authenticated clients (or trusted networks); NULL or the refusal. Before
 * STARTTLS the dispatcher already answered (smtp_tls_required). */
static const char *
smtp_mail_auth_check(struct smtp_session *s)
{
	if (s->role == CONF_ROLE_MX || smtp_may_relay(s))
		return NULL;
	return "530 5.7.0 Authentication required";
}

/* A submission listener takes nothing but the session's set-up before
 * STARTTLS (RFC 3207 4, RFC 6409: Postfix's smtpd_tls_security_level
 * encrypt answers the same), except from clients trusted to relay. */
static bool
smtp_tls_required(const struct smtp_session *s)
{
	return s->role == CONF_ROLE_SUBMISSION && smtp_tls_first(s) && !smtp_may_relay(s);
}

/* Postfix's queue_minfree: refuse at MAIL, before the client sends a body,
 * when the spool's filesystem is nearly full or cannot hold the declared
 * SIZE on top of the reserve. An unknown figure refuses nothing: the
 * write path still answers 451 for a body that does not fit. */
static const char *
smtp_mail_space_check(struct smtp_session *s)
{
	long long minfree = s->conf->queue_minfree;
	uint64_t size = s->tx.params.has_size ? s->tx.params.size : 0;
	long long avail;

	if (minfree == 0 && size == 0)
		return NULL;
	/* Measured afresh when within one more reserve of refusing. */
	avail = spool_space_available(s->h->spool, 2 * minfree + (long long)size);
	if (avail < 0 || (avail >= minfree && (uint64_t)(avail - minfree) >= size))
		return NULL;
	log_warn("event=storage-low sid=%llu client=%s free=%lld queue_minfree=%lld size=%llu",
	    s->sid, s->addr, avail, minfree, (unsigned long long)size);
	return "452 4.3.1 Insufficient system storage";
}

static void
smtp_cmd_mail(struct smtp_session *s, const char *arg, size_t len)
{
	struct smtp_ext ext = smtp_session_ext(s);
	struct smtp_tx *tx = &s->tx;
	const char *err;
	char q[300], buf[512], qr[2100];

	if (tx->active) {
		smtp_reply_error(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	err = smtp_mail_auth_check(s);
	if (err == NULL)
		err = smtp_mail_parse(arg, len, &ext, &tx->sender, &tx->params);
	if (err == NULL && tx->params.has_size && tx->params.size > (uint64_t)s->conf->max_message_size)
		err = "552 5.3.4 Message size exceeds fixed limit";
	if (err == NULL)
		err = smtp_mail_space_check(s);
	if (err == NULL && tx->sender.utf8 && !tx->params.smtputf8)
		err = "553 5.6.7 Must declare SMTPUTF8 to send an internationalized address";
	if (err == NULL)
		err = smtp_tenant_mail_check(s, buf, sizeof(buf));
	if (err != NULL) {
		log_info("event=mail-refused sid=%llu client=%s arg=%s reply=%s", s->sid, s->addr,
		    log_quote(q, sizeof(q), arg, len), log_quote(qr, sizeof(qr), err, strlen(err)));
		memset(tx, 0, sizeof(*tx));
		smtp_reply_error(s, err);
		return;
	}
	tx->active = true;
	tx->started_us = metrics_now_us();
	s->nmail++;
	if (tx->as_tenant)
		log_info("event=mail-accepted sid=%llu client=%s from=%s tenant=%s %s=%s", s->sid, s->addr,
		    log_quote(q, sizeof(q), tx->sender.addr, tx->sender.len), s->ident.tenant,
		    s->ident.kind == STATE_IDENT_CONNECTOR ? "connector" :
		    s->ident.kind == STATE_IDENT_KEY ? "key" : "account", s->ident.subject);
	smtp_reply(s, "250 2.1.0 Ok");
}

static const char *smtp_rcpt_decide(struct smtp_session *s, const struct smtp_path *p);

/* A return-path token or an ordinary recipient, and never both kinds in
 * one transaction (a bounce is recorded, not queued). */
static const char *
smtp_rcpt_kind_decide(struct smtp_session *s, struct smtp_rcpt *r)
{
	const char *rp = smtp_return_path_rcpt(s, r);
	enum smtp_tx_kind kind = rp != NULL ? SMTP_TX_RETURN_PATH : SMTP_TX_MAIL;

	if (rp != NULL && rp[0] != '\0')
		return rp;
	if (s->tx.kind != SMTP_TX_UNDECIDED && s->tx.kind != kind)
		return "452 4.5.3 Send bounces for return-path addresses in their own transaction";
	if (rp == NULL && (rp = smtp_rcpt_decide(s, &r->path)) != NULL)
		return rp;
	s->tx.kind = kind;
	return NULL;
}

static const char *
smtp_rcpt_decide(struct smtp_session *s, const struct smtp_path *p)
{
	s->tx.rcpt_local = false;
	switch (relay_rcpt_check(s->conf, p, smtp_may_relay(s))) {
	case RELAY_OK_LOCAL:
		s->tx.rcpt_local = true;
		return NULL;
	case RELAY_OK_RELAY:
		return smtp_tenant_relay_rcpt(s, s->tenant_reply, sizeof(s->tenant_reply));
	case RELAY_UNKNOWN_USER:
		return "550 5.1.1 Recipient address rejected: User unknown in local recipient table";
	case RELAY_DENIED:
		break;
	}
	return "554 5.7.1 Relay access denied";
}

static void
smtp_rcpt_add(struct smtp_session *s, const struct smtp_rcpt *r)
{
	struct smtp_tx *tx = &s->tx;

	if (tx->nrcpts == tx->rcpts_cap) {
		tx->rcpts_cap = tx->rcpts_cap ? tx->rcpts_cap * 2 : 4;
		tx->rcpts = xrealloc(tx->rcpts, tx->rcpts_cap * sizeof(*tx->rcpts));
	}
	tx->rcpts[tx->nrcpts++] = *r;
}

/* A suppressed recipient (smtp_suppress.c): "" accepted and dropped, else
 * the refusal. The tenant's own list refusing it is policy, not a client
 * error: a mailing to many with a few suppressed must not reach
 * max_errors, so it is not counted as one (as 452 too many recipients). */
static void
smtp_rcpt_suppressed(struct smtp_session *s, const char *reply)
{
	if (reply[0] == '\0') {
		s->tx.ndropped++;
		s->nrcpt++;
		smtp_reply(s, "250 2.1.5 Ok");
		return;
	}
	s->tx.refused++;
	smtp_reply(s, "%s", reply);
}

static void
smtp_cmd_rcpt(struct smtp_session *s, const char *arg, size_t len)
{
	struct smtp_ext ext = smtp_session_ext(s);
	struct smtp_rcpt r;
	const char *err;
	char q[300], f[300], buf[512], qr[2100];

	if (!s->tx.active) {
		smtp_tx_refuse(s, "rcpt-refused", "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->tx.nrcpts + s->tx.ndropped >= (size_t)s->conf->max_recipients) {
		/* Not an error (RFC 5321 4.5.3.1.10: the client sends the rest
		 * in another transaction), so not counted; still logged. */
		smtp_tx_refusal_log(s, "rcpt-refused", "452 4.5.3 Error: too many recipients");
		smtp_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	if ((err = smtp_tenant_rcpt_check(s, buf, sizeof(buf))) != NULL) {
		smtp_reply(s, "%s", err);
		return;
	}
	memset(&r, 0, sizeof(r));
	err = smtp_rcpt_parse(arg, len, &ext, &r.path, &r.params);
	if (err == NULL && r.path.utf8 && !s->tx.params.smtputf8)
		err = "553 5.6.7 Must declare SMTPUTF8 to send an internationalized address";
	if (err == NULL)
		err = smtp_rcpt_kind_decide(s, &r);
	if (err == NULL && s->tx.kind == SMTP_TX_MAIL &&
	    (err = smtp_suppress_rcpt_check(s, &r.path, buf, sizeof(buf))) != NULL) {
		smtp_rcpt_suppressed(s, err);
		return;
	}
	if (err != NULL) {
		s->tx.refused++;
		log_info("event=rcpt-refused sid=%llu client=%s from=%s to=%s reply=%s",
		    s->sid, s->addr, log_quote(f, sizeof(f), s->tx.sender.addr, s->tx.sender.len),
		    log_quote(q, sizeof(q), arg, len), log_quote(qr, sizeof(qr), err, strlen(err)));
		smtp_reply_error(s, err);
		return;
	}
	smtp_rcpt_add(s, &r);
	s->nrcpt++;
	log_info("event=rcpt-accepted sid=%llu client=%s from=%s to=%s", s->sid, s->addr,
	    log_quote(f, sizeof(f), s->tx.sender.addr, s->tx.sender.len),
	    log_quote(q, sizeof(q), r.path.addr, r.path.len));
	smtp_reply(s, "250 2.1.5 Ok");
}

/* A client that only sends NOOP, RSET or VRFY, each just inside
 * timeout_command, would hold its session for ever: past
 * junk_command_limit each one counts toward max_errors (as Postfix's
 * smtpd_junk_command_limit does), which ends such a session. */
static void
smtp_reply_junk(struct smtp_session *s, const char *reply)
{
	if (++s->njunk > (unsigned long long)s->conf->junk_command_limit)
		smtp_reply_error(s, reply);
	else
		smtp_reply(s, "%s", reply);
}

static void
smtp_cmd_rset(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	if (len > 0) {
		smtp_reply_error(s, "501 5.5.4 Syntax: RSET");
		return;
	}
	smtp_tx_reset(s);
	s->nrset++;
	smtp_reply_junk(s, "250 2.0.0 Ok");
}

static void
smtp_cmd_noop(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtp_reply_junk(s, "250 2.0.0 Ok");
}

static void
smtp_cmd_quit(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	if (len > 0) {
		smtp_reply_error(s, "501 5.5.4 Syntax: QUIT");
		return;
	}
	smtp_reply(s, "221 2.0.0 Bye");
	smtp_close_after_reply(s);
}

static void
smtp_cmd_help(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtp_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY STARTTLS AUTH");
}

/* RFC 5321 3.5.3: 252 neither confirms nor denies; nothing is disclosed. */
static void
smtp_cmd_vrfy(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	if (len == 0) {
		smtp_reply_error(s, "501 5.5.4 Syntax: VRFY address");
		return;
	}
	smtp_reply_junk(s, "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery");
}

static void
smtp_cmd_expn(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtp_reply_error(s, "502 5.5.1 Error: EXPN is not supported");
}

static void
smtp_cmd_starttls(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	if (len > 0)
		smtp_reply_error(s, "501 5.5.4 Syntax: STARTTLS");
	else if (s->tls || s->role == CONF_ROLE_SUBMISSIONS)
		smtp_reply_error(s, "554 5.5.1 Error: TLS already active");
	else if (s->snap->tls == NULL)
		smtp_reply_error(s, "454 4.7.0 TLS not available due to local problem");
	else if (s->tx.active)
		smtp_reply_error(s, "503 5.5.1 Error: MAIL transaction in progress");
	else
		smtp_starttls(s);
}

static const struct smtp_cmd_row smtp_cmd_table[] = {
	/* BDAT passes before TLS so its own refusal still consumes the chunk. */
	{ SMTP_VERB_EHLO,     "EHLO",     false, true,  smtp_cmd_ehlo },
	{ SMTP_VERB_HELO,     "HELO",     false, true,  smtp_cmd_helo },
	{ SMTP_VERB_MAIL,     "MAIL",     true,  false, smtp_cmd_mail },
	{ SMTP_VERB_RCPT,     "RCPT",     true,  false, smtp_cmd_rcpt },
	{ SMTP_VERB_DATA,     "DATA",     true,  false, smtp_cmd_data },
	{ SMTP_VERB_BDAT,     "BDAT",     false, true,  smtp_cmd_bdat },
	{ SMTP_VERB_RSET,     "RSET",     false, true,  smtp_cmd_rset },
	{ SMTP_VERB_NOOP,     "NOOP",     false, true,  smtp_cmd_noop },
	{ SMTP_VERB_QUIT,     "QUIT",     false, true,  smtp_cmd_quit },
	{ SMTP_VERB_HELP,     "HELP",     false, true,  smtp_cmd_help },
	{ SMTP_VERB_VRFY,     "VRFY",     false, false, smtp_cmd_vrfy },
	{ SMTP_VERB_EXPN,     "EXPN",     false, false, smtp_cmd_expn },
	{ SMTP_VERB_STARTTLS, "STARTTLS", false, true,  smtp_cmd_starttls },
	{ SMTP_VERB_AUTH,     "AUTH",     true,  false, smtp_cmd_auth },
};

void
smtp_cmd_dispatch(struct smtp_session *s, const char *line, size_t len)
{
	struct smtp_cmd cmd;
	const char *err = smtp_cmd_parse(line, len, &cmd);

	if (err != NULL) {
		smtp_reply_error(s, err);
		return;
	}
	for (size_t i = 0; i < sizeof(smtp_cmd_table) / sizeof(smtp_cmd_table[0]); i++) {
		const struct smtp_cmd_row *row = &smtp_cmd_table[i];
		if (row->verb != cmd.verb)
			continue;
		if (!row->before_tls && smtp_tls_required(s)) {
			smtp_tx_refuse(s, "command-refused", "530 5.7.0 Must issue a STARTTLS command first");
			return;
		}
		if (row->needs_helo && !s->helo_seen) {
			smtp_reply_error(s, "503 5.5.1 Error: send HELO/EHLO first");
			return;
		}
		row->proceed(s, cmd.arg, cmd.arglen);
		return;
	}
	smtp_reply_error(s, "500 5.5.2 Error: command not recognized");
}
