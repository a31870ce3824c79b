/*
 * mta_tx.c - one mail transaction on an open outbound session: MAIL, RCPT
 * for every recipient of the destination, DATA with dot-stuffed content,
 * and the per-recipient outcome (one reply for SMTP, one per recipient for
 * LMTP). Pipelined when the peer offers it.
 * STANDARDS: RFC 5321 3.3 and 4.5.2 (transparency), RFC 2920 PIPELINING,
 * RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 6531 SMTPUTF8, RFC 3461 DSN
 * parameters, RFC 2033 LMTP.
 * SECURITY: a reply read out of order or malformed kills the connection
 * and defers every recipient still open; nothing a peer says is echoed
 * back onto the wire.
 */
#include "delivery/mta_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtp/smtp_parse.h"
#include "util/xmalloc.h"

#define TX_CHUNK 16384   /* content read per pread; stuffing at most doubles it */

/* A growing buffer of pipelined command lines. */
struct tx_buf {
	char  *p;
	size_t len, cap;
};

/* Append one command line (CRLF added). */
static void
tx_buf_line(struct tx_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n >= 0 && b->p != NULL && b->len + (size_t)n + 2 < b->cap)
			break;
		b->cap = (b->cap ? b->cap * 2 : 4096) + (size_t)(n > 0 ? n : 0) + 2;
		b->p = xrealloc(b->p, b->cap);
	}
	b->len += (size_t)n;
	memcpy(b->p + b->len, "\r\n", 2);
	b->len += 2;
}

/* MAIL FROM with the parameters the peer understands. */
static void
tx_mail_line(const struct mta_conn *c, const struct mta_msg *m, struct tx_buf *b)
{
	char params[1200] = "", envid[800];
	size_t n = 0;

	if (c->caps.has_size)
		n += (size_t)snprintf(params + n, sizeof(params) - n, " SIZE=%llu",
		    (unsigned long long)(m->content_len + (m->prefix ? strlen(m->prefix) : 0)));
	if (m->body == SMTP_BODY_8BITMIME && c->caps.eightbit)
		n += (size_t)snprintf(params + n, sizeof(params) - n, " BODY=8BITMIME");
	if (m->smtputf8 && c->caps.smtputf8)
		n += (size_t)snprintf(params + n, sizeof(params) - n, " SMTPUTF8");
	if (c->caps.dsn && m->ret != SMTP_RET_NONE)
		n += (size_t)snprintf(params + n, sizeof(params) - n, " RET=%s", smtp_ret_name(m->ret));
	if (c->caps.dsn && m->envid != NULL && n < sizeof(params) &&
	    smtp_xtext_encode(m->envid, strlen(m->envid), envid, sizeof(envid)) >= 0)
		snprintf(params + n, sizeof(params) - n, " ENVID=%s", envid);
	tx_buf_line(b, "MAIL FROM:<%s>%s", m->sender, params);
}

/* RCPT TO with NOTIFY and ORCPT when the peer speaks DSN. */
static void
tx_rcpt_line(const struct mta_conn *c, const struct mta_rcpt *r, struct tx_buf *b)
{
	char notify[40] = "";
	size_t n = 0;

	if (c->caps.dsn && r->notify != 0) {
		if (r->notify & SMTP_NOTIFY_NEVER)
			n = (size_t)snprintf(notify, sizeof(notify), "NEVER");
		else {
			if (r->notify & SMTP_NOTIFY_SUCCESS)
				n += (size_t)snprintf(notify + n, sizeof(notify) - n, "%sSUCCESS", n ? "," : "");
			if (r->notify & SMTP_NOTIFY_FAILURE)
				n += (size_t)snprintf(notify + n, sizeof(notify) - n, "%sFAILURE", n ? "," : "");
			if (r->notify & SMTP_NOTIFY_DELAY)
				snprintf(notify + n, sizeof(notify) - n, "%sDELAY", n ? "," : "");
		}
	}
	tx_buf_line(b, "RCPT TO:<%s>%s%s%s%s", r->addr, notify[0] ? " NOTIFY=" : "", notify,
	    c->caps.dsn && r->orcpt ? " ORCPT=" : "", c->caps.dsn && r->orcpt ? r->orcpt : "");
}

/* Every recipient gets r (a message-wide failure). */
static void
tx_all(const struct mta_msg *m, const struct mta_reply *r)
{
	for (size_t i = 0; i < m->nrcpts; i++)
		m->rcpts[i].result = *r;
}

/* Recipients not finally refused get r (connection died, DATA refused...). */
static void
tx_open(const struct mta_msg *m, const struct mta_reply *r)
{
	for (size_t i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].result.code < 300)
			m->rcpts[i].result = *r;
}

/* Back to a clean state after a failed transaction; -1 if not reusable. */
static int
tx_reset(struct mta_conn *c)
{
	struct mta_reply r;

	if (c->dead || mta_cmd(c, &r, "RSET") < 0 || r.code != 250)
		return -1;
	return 0;
}

/* Send the content, dot-stuffed, and the final ".". */
static int
tx_content(struct mta_conn *c, const struct mta_msg *m)
{
	char *in, *out;
	uint64_t done = 0;
	bool bol = true;
	char last = '\n';
	int rc = 0, fd = m->content_open != NULL ? m->content_open(m->content_arg) : m->content_fd;

	if (fd < 0)
		return -2;
	/* on the heap: a coroutine's stack stays small */
	in = xmalloc(TX_CHUNK);
	out = xmalloc(2 * TX_CHUNK + 8);
	/* our own header lines (CRLF, never starting with '.') go first */
	if (m->prefix != NULL)
		rc = mta_io_write(c, m->prefix, strlen(m->prefix));
	while (done < m->content_len && rc == 0) {
		size_t want = m->content_len - done > TX_CHUNK ? TX_CHUNK : (size_t)(m->content_len - done);
		ssize_t n = pread(fd, in, want, m->content_off + (off_t)done);
		if (n <= 0) {
			rc = -2;
			break;
		}
		size_t o = 0;
		for (ssize_t i = 0; i < n; i++) {
			if (bol && in[i] == '.')
				out[o++] = '.';
			out[o++] = in[i];
			bol = in[i] == '\n';
		}
		last = in[n - 1];
		done += (uint64_t)n;
		if (done == m->content_len) {    /* the end of data in the same write */
			memcpy(out + o, last == '\n' ? ".\r\n" : "\r\n.\r\n", last == '\n' ? 3 : 5);
			o += last == '\n' ? 3 : 5;
		}
		rc = mta_io_write(c, out, o);
	}
	if (rc == 0 && m->content_len == 0)
		rc = mta_io_write(c, ".\r\n", 3);
	free(in);
	free(out);
	if (m->content_open != NULL)
		close(fd);
	return rc;
}

/* Replies after the final "." : one, or one per accepted recipient (LMTP). */
static int
tx_final(struct mta_conn *c, const struct mta_msg *m, const bool *accepted)
{
	struct mta_reply r;

	for (size_t i = 0; i < m->nrcpts; i++) {
		if (!accepted[i])
			continue;
		if (mta_io_reply(c, &r, NULL, NULL) < 0) {
			/* Only the recipients still waiting for their reply: an LMTP
			 * recipient already answered 250 is delivered, and taking it
			 * for deferred would deliver it twice. */
			for (size_t j = i; j < m->nrcpts; j++)
				if (accepted[j])
					m->rcpts[j].result = r;
			return -1;
		}
		if (!c->lmtp) {
			for (size_t j = i; j < m->nrcpts; j++)
				if (accepted[j])
					m->rcpts[j].result = r;
			return 0;
		}
		m->rcpts[i].result = r;
	}
	return 0;
}

/* Read MAIL's and each RCPT's replies; returns how many were accepted, -1 dead. */
static long
tx_envelope_replies(struct mta_conn *c, const struct mta_msg *m, bool pipelined,
    struct tx_buf *b, struct mta_reply *mail, bool *accepted)
{
	struct mta_reply mail_refused = { 0 };
	long n = 0;

	if (!pipelined) {
		b->len = 0;
		tx_mail_line(c, m, b);
		if (mta_io_write(c, b->p, b->len) < 0)
			goto dead;
	}
	if (mta_io_reply(c, mail, NULL, NULL) < 0)
		goto dead_reply;
	if (mail->code >= 400)
		mail_refused = *mail;
	if (!pipelined && mail->code / 100 != 2)
		return 0;
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (!pipelined) {
			b->len = 0;
			tx_rcpt_line(c, &m->rcpts[i], b);
			if (mta_io_write(c, b->p, b->len) < 0)
				goto dead;
		}
		if (mta_io_reply(c, &m->rcpts[i].result, NULL, NULL) < 0) {
			*mail = m->rcpts[i].result;
			goto dead_reply;
		}
		accepted[i] = m->rcpts[i].result.code / 100 == 2;
		n += accepted[i];
	}
	return mail->code / 100 == 2 ? n : 0;
dead:
	mta_reply_set(mail, 451, "4.4.2 lost connection with %.300s", c->peer);
dead_reply:
	/* A peer that refused MAIL (421 4.7.28 ...) and then closed said why:
	 * its words, not "lost connection", are every recipient's outcome (and
	 * what traffic shaping reads). A recipient it already refused keeps its
	 * own reply. */
	if (mail_refused.code >= 400)
		tx_all(m, &mail_refused);
	else
		tx_open(m, mail);
	return -1;
}

/* DATA's reply (already sent when pipelining); the content when it is 354. */
static int
tx_data(struct mta_conn *c, const struct mta_msg *m, bool pipelined, long naccepted, bool *accepted)
{
	struct mta_reply r;

	if (!pipelined && naccepted == 0)
		return tx_reset(c);
	if ((!pipelined && mta_io_printf(c, "DATA") < 0) || mta_io_reply(c, &r, NULL, NULL) < 0) {
		mta_reply_set(&r, 451, "4.4.2 lost connection with %.300s after RCPT", c->peer);
		tx_open(m, &r);
		return -1;
	}
	if (r.code == 354 && naccepted == 0) {
		/* RFC 2920 3.1: the peer wants content nobody takes; end it empty. */
		if (mta_io_write(c, ".\r\n", 3) < 0 || mta_io_reply(c, &r, NULL, NULL) < 0)
			return -1;
		return tx_reset(c);
	}
	if (naccepted == 0)
		return tx_reset(c);
	if (r.code != 354) {
		for (size_t i = 0; i < m->nrcpts; i++)
			if (accepted[i])
				m->rcpts[i].result = r;
		return tx_reset(c);
	}
	int rc = tx_content(c, m);
	if (rc == -2) {
		mta_reply_set(&r, 451, "4.3.0 cannot read the queued message");
		tx_open(m, &r);
		return -1;
	}
	if (rc < 0) {
		mta_reply_set(&r, 451, "4.4.2 lost connection with %.300s while sending the message", c->peer);
		tx_open(m, &r);
		return -1;
	}
	return tx_final(c, m, accepted);
}

/* Refusals we can tell before saying anything: SMTPUTF8 and SIZE. */
static bool
tx_precheck(const struct mta_conn *c, const struct mta_msg *m)
{
	struct mta_reply r;

	if (m->smtputf8 && !c->caps.smtputf8) {
		mta_reply_set(&r, 550, "5.6.7 SMTPUTF8 is required, but was not offered by %.300s", c->peer);
		tx_all(m, &r);
		return false;
	}
	if (c->caps.has_size && c->caps.size > 0 &&
	    m->content_len + (m->prefix ? strlen(m->prefix) : 0) > c->caps.size) {
		mta_reply_set(&r, 552, "5.3.4 message size %llu exceeds the size limit %llu of %.300s",
		    (unsigned long long)m->content_len, (unsigned long long)c->caps.size, c->peer);
		tx_all(m, &r);
		return false;
	}
	return true;
}

/* One transaction; fills every rcpts[i].result. */
int
mta_send(struct mta_conn *c, const struct mta_msg *m)
{
	struct tx_buf b = { 0 };
	struct mta_reply mail;
	bool pipelined = c->caps.pipelining;
	bool *accepted;
	long n;
	int rc;

	for (size_t i = 0; i < m->nrcpts; i++)
		memset(&m->rcpts[i].result, 0, sizeof(m->rcpts[i].result));
	if (!c->dead && mta_io_unsolicited(c))
		c->dead = true;       /* a 421 on an idle connection, a close, or stray replies */
	if (c->dead) {
		mta_reply_set(&mail, 451, "4.4.2 lost connection with %.300s", c->peer);
		tx_all(m, &mail);
		return -1;
	}
	if (!tx_precheck(c, m))
		return 1;
	accepted = xcalloc(m->nrcpts ? m->nrcpts : 1, sizeof(*accepted));
	if (pipelined) {
		tx_mail_line(c, m, &b);
		for (size_t i = 0; i < m->nrcpts; i++)
			tx_rcpt_line(c, &m->rcpts[i], &b);
		tx_buf_line(&b, "DATA");
		if (mta_io_write(c, b.p, b.len) < 0)
			c->dead = true;
	}
	n = tx_envelope_replies(c, m, pipelined, &b, &mail, accepted);
	if (n < 0)
		rc = -1;
	else if (mail.code / 100 != 2) {
		tx_all(m, &mail);
		rc = pipelined ? tx_data(c, m, true, 0, accepted) : tx_reset(c);
	} else
		rc = tx_data(c, m, pipelined, n, accepted);
	free(accepted);
	free(b.p);
	return rc < 0 || c->dead ? -1 : 0;
}
