/*
 * smtp_auth.c - SMTP AUTH PLAIN and LOGIN, offered only under TLS and never
 * on the mx listener.
 * STANDARDS: RFC 4954 (AUTH, 12,288-octet initial response, "*" cancels,
 * "=" empty response), RFC 4616 PLAIN, draft-murchison-sasl-login LOGIN.
 * SECURITY: passwords are checked on the auth thread pool (argon2id), never
 * on the event loop. Each failure slows the client down by one more second;
 * after auth_max_failures the client is disconnected. Passwords are never
 * logged; decoded buffers are wiped.
 */
#include "smtp/smtp_internal.h"

#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth_store.h"
#include "auth/auth_users.h"
#include "net/worker.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define SMTP_MECH_PLAIN 1
#define SMTP_MECH_LOGIN 2
#define SMTP_B64_MAX    (SMTP_AUTH_LINE_MAX / 4 * 3 + 3)

/* Strict base64 (RFC 4648, padding required). Returns length or -1. */
static long
smtp_b64_decode(const char *in, size_t len, unsigned char *out, size_t outsz)
{
	int n;
	size_t pad = 0;

	if (len % 4 != 0 || len / 4 * 3 > outsz)
		return -1;
	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '+' || c == '/' || (c == '=' && i >= len - 2);
		if (!ok)
			return -1;
	}
	if (in[len - 1] == '=')
		pad++;
	if (in[len - 2] == '=')
		pad++;
	if (pad == 1 && in[len - 2] == '=')
		return -1;
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	if (n < 0)
		return -1;
	return (long)n - (long)pad;
}

static void
smtp_auth_reset(struct smtp_session *s)
{
	s->state = SMTP_ST_COMMAND;
	s->auth_step = 0;
	s->auth_mech = 0;
	if (s->auth_login_user != NULL) {
		free(s->auth_login_user);
		s->auth_login_user = NULL;
	}
}

static void
smtp_auth_done_cb(void *arg, int result, const struct state_ident *id)
{
	struct smtp_session *s = arg;

	/* Auth pool thread: hand the result to the session's own thread (the
	 * session waits in SMTP_ST_WAIT and touches none of these meanwhile). */
	s->async_kind = 2;
	s->async_result = result;
	if (id != NULL)
		s->auth_ident = *id;
	else
		memset(&s->auth_ident, 0, sizeof(s->auth_ident));
	event_active(s->async_ev, 0, 0);
}

static void
smtp_auth_verify(struct smtp_session *s, const char *user, size_t ulen,
    const char *pass, size_t plen)
{
	if (ulen == 0 || !auth_user_name_valid(user, ulen) || plen > AUTH_PASS_MAX) {
		s->auth_login_user = s->auth_login_user ? s->auth_login_user : xstrndup(user, ulen);
		s->state = SMTP_ST_WAIT;
		s->pending++;
		smtp_auth_done_cb(s, 0, NULL);
		return;
	}
	if (s->auth_login_user == NULL)
		s->auth_login_user = xstrndup(user, ulen);
	s->state = SMTP_ST_WAIT;
	smtp_timeouts_set(s);      /* the server's turn: no idle timeout (smtp_async_cb re-arms) */
	s->pending++;
	auth_store_verify_async(s->h->auth, user, ulen, pass, plen, smtp_auth_done_cb, s);
}

/* PLAIN: [authzid] NUL authcid NUL passwd (RFC 4616). */
static void
smtp_auth_plain(struct smtp_session *s, const char *b64, size_t len)
{
	unsigned char buf[SMTP_B64_MAX + 1];
	long n = smtp_b64_decode(b64, len, buf, sizeof(buf) - 1);
	unsigned char *z1, *z2;

	if (n < 0) {
		smtp_auth_reset(s);
		smtp_reply_error(s, "501 5.5.2 Cannot decode AUTH response");
		return;
	}
	z1 = memchr(buf, '\0', (size_t)n);
	z2 = z1 ? memchr(z1 + 1, '\0', (size_t)(buf + n - z1 - 1)) : NULL;
	if (z2 == NULL) {
		sodium_memzero(buf, sizeof(buf));
		smtp_auth_reset(s);
		smtp_reply_error(s, "501 5.5.2 Malformed AUTH PLAIN response");
		return;
	}
	/* No proxy authorization: authzid must be empty or the user itself. */
	if (z1 != buf && ((size_t)(z1 - buf) != (size_t)(z2 - z1 - 1) ||
	    memcmp(buf, z1 + 1, (size_t)(z1 - buf)) != 0)) {
		s->auth_login_user = xstrndup((char *)z1 + 1, (size_t)(z2 - z1 - 1));
		smtp_auth_verify(s, "", 0, "", 0);
	} else
		smtp_auth_verify(s, (char *)z1 + 1, (size_t)(z2 - z1 - 1), (char *)z2 + 1,
		    (size_t)(buf + n - z2 - 1));
	sodium_memzero(buf, sizeof(buf));
}

static void
smtp_auth_login_step(struct smtp_session *s, const char *b64, size_t len)
{
	unsigned char buf[SMTP_B64_MAX + 1];
	long n = smtp_b64_decode(b64, len, buf, sizeof(buf) - 1);

	if (n < 0) {
		smtp_auth_reset(s);
		smtp_reply_error(s, "501 5.5.2 Cannot decode AUTH response");
		return;
	}
	if (s->auth_step == 1) {
		s->auth_login_user = xstrndup((char *)buf, (size_t)n);
		s->auth_step = 2;
		s->state = SMTP_ST_AUTH;
		smtp_reply(s, "334 UGFzc3dvcmQ6");   /* "Password:" */
		return;
	}
	smtp_auth_verify(s, s->auth_login_user, strlen(s->auth_login_user), (char *)buf, (size_t)n);
	sodium_memzero(buf, sizeof(buf));
}

static bool
smtp_auth_allowed(struct smtp_session *s)
{
	if (smtp_tls_first(s))
		smtp_reply_error(s, "530 5.7.0 Must issue a STARTTLS command first");
	else if (s->role == CONF_ROLE_MX || !s->tls)
		smtp_reply_error(s, "503 5.5.1 Error: authentication not enabled");
	else if (!s->esmtp)
		smtp_reply_error(s, "503 5.5.1 Error: send EHLO first");
	else if (s->auth_user != NULL)
		smtp_reply_error(s, "503 5.5.1 Error: already authenticated");
	else if (s->tx.active)
		smtp_reply_error(s, "503 5.5.1 Error: MAIL transaction in progress");
	else
		return true;
	return false;
}

void
smtp_cmd_auth(struct smtp_session *s, const char *arg, size_t len)
{
	const char *sp = memchr(arg, ' ', len);
	size_t mlen = sp ? (size_t)(sp - arg) : len;
	const char *ir = sp ? sp + 1 : NULL;
	size_t irlen = sp ? len - mlen - 1 : 0;

	if (!smtp_auth_allowed(s))
		return;
	if (mlen == 5 && strncasecmp(arg, "PLAIN", 5) == 0)
		s->auth_mech = SMTP_MECH_PLAIN;
	else if (mlen == 5 && strncasecmp(arg, "LOGIN", 5) == 0)
		s->auth_mech = SMTP_MECH_LOGIN;
	else {
		smtp_reply_error(s, "504 5.5.4 Unrecognized authentication type");
		return;
	}
	s->auth_step = 1;
	if (ir != NULL && irlen == 1 && ir[0] == '=')
		irlen = 0;   /* RFC 4954: "=" is an empty initial response */
	if (ir == NULL) {
		s->state = SMTP_ST_AUTH;
		smtp_reply(s, s->auth_mech == SMTP_MECH_PLAIN ? "334 " : "334 VXNlcm5hbWU6");
	} else if (s->auth_mech == SMTP_MECH_PLAIN)
		smtp_auth_plain(s, ir, irlen);
	else
		smtp_auth_login_step(s, ir, irlen);
}

void
smtp_auth_line(struct smtp_session *s, const char *line, size_t len)
{
	if (len == 1 && line[0] == '*') {
		smtp_auth_reset(s);
		smtp_reply_error(s, "501 5.7.0 Authentication aborted");
		return;
	}
	if (s->auth_mech == SMTP_MECH_PLAIN)
		smtp_auth_plain(s, line, len);
	else
		smtp_auth_login_step(s, line, len);
}

static void
smtp_auth_delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;

	(void)fd;
	(void)what;
	s->pending--;
	smtp_reply_error(s, s->delayed_reply);
	if (s->auth_failures >= s->conf->auth_max_failures && !s->closed) {
		smtp_reply(s, "421 4.7.0 %s Error: too many authentication failures", s->conf->hostname);
		smtp_close_after_reply(s);
	} else if (s->state == SMTP_ST_WAIT) {
		s->state = SMTP_ST_COMMAND;
		smtp_timeouts_set(s);     /* the client's turn again (the wait had none) */
	}
	if (!s->closed)
		smtp_input_process(s);
	smtp_session_release(s);
}

/* A good password whose tenant is suspended: refused, said why. */
static void
smtp_auth_suspended(struct smtp_session *s, const char *quser)
{
	char reason[160], reply[300], q[400];

	tenant_send_reason(&s->auth_ident, reason, sizeof(reason));
	log_info("event=auth sid=%llu client=%s user=%s result=suspended tenant=%s reason=%s",
	    s->sid, s->addr, quser, s->auth_ident.tenant, log_quote(q, sizeof(q), reason, strlen(reason)));
	smtp_auth_reset(s);
	snprintf(reply, sizeof(reply), "535 5.7.1 Tenant %s is suspended: %s", s->auth_ident.tenant, reason);
	memset(&s->auth_ident, 0, sizeof(s->auth_ident));
	smtp_reply_error(s, reply);
}

/* Authenticated: the session sends as this user (and tenant identity, which
 * replaces a connector's). */
static void
smtp_auth_accept(struct smtp_session *s, const char *quser)
{
	if (s->auth_ident.kind != STATE_IDENT_NONE)
		log_info("event=auth sid=%llu client=%s user=%s result=ok tenant=%s as=%s subject=%s",
		    s->sid, s->addr, quser, s->auth_ident.tenant,
		    s->auth_ident.kind == STATE_IDENT_KEY ? "key" : "account", s->auth_ident.subject);
	else
		log_info("event=auth sid=%llu client=%s user=%s result=ok", s->sid, s->addr, quser);
	s->auth_user = s->auth_login_user;
	s->auth_login_user = NULL;
	s->ident = s->auth_ident;
	memset(&s->auth_ident, 0, sizeof(s->auth_ident));
	smtp_auth_reset(s);
	smtp_reply(s, "235 2.7.0 Authentication successful");
}

/* result: 1 ok, 0 refused, -1 the state database failed. */
void
smtp_auth_result(struct smtp_session *s, int result)
{
	char q[300];
	struct timeval tv = { .tv_sec = 0 };
	const char *user = s->auth_login_user ? s->auth_login_user : "";

	log_quote(q, sizeof(q), user, strlen(user));
	if (result == 1 && s->auth_ident.kind != STATE_IDENT_NONE && s->auth_ident.suspended) {
		smtp_auth_suspended(s, q);
		return;
	}
	if (result == 1) {
		smtp_auth_accept(s, q);
		return;
	}
	if (result < 0) {
		log_error("event=auth sid=%llu client=%s user=%s result=tempfail reason=\"state database\"",
		    s->sid, s->addr, q);
		smtp_auth_reset(s);
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
		return;
	}
	s->auth_failures++;
	log_info("event=auth sid=%llu client=%s user=%s result=failed failures=%d", s->sid, s->addr,
	    q, s->auth_failures);
	smtp_auth_reset(s);
	/* Slow down guessing: one more second per failure, without blocking. */
	s->state = SMTP_ST_WAIT;
	tv.tv_sec = s->auth_failures;
	snprintf(s->delayed_reply, sizeof(s->delayed_reply), "535 5.7.8 Error: authentication failed");
	if (s->delay_ev == NULL)
		s->delay_ev = evtimer_new(s->worker->base, smtp_auth_delay_cb, s);
	s->pending++;
	evtimer_add(s->delay_ev, &tv);
}
