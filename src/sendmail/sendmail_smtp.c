/*
 * sendmail_smtp.c - the SMTP client ferry-sendmail uses on ferryd's local
 * submission socket: greeting, EHLO, MAIL, RCPT, DATA, QUIT, one command
 * at a time, every reply checked against what the command allows.
 * STANDARDS: RFC 5321 4.1.1, 4.2 (reply syntax, multi-line replies), 4.3.2
 * (which codes each command may return), 4.5.2 (dot-stuffing), 4.5.3.2
 * (timeouts); RFC 1870; RFC 6152; RFC 6531; RFC 3461; RFC 3463.
 * SECURITY: trusts nothing ferryd sends: replies are read by the outbound
 * client's parser in its strict mode (util/mta_reply.c: lines end in CRLF,
 * bounded in length and number, one code); text is printed reduced to
 * printable ASCII. Commands carry only validated addresses.
 */
#include "sendmail/sendmail_smtp.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include "util/mta_reply.h"
#include "util/xmalloc.h"

#define SENDMAIL_TIMEOUT     300     /* seconds, RFC 5321 4.5.3.2 */
#define SENDMAIL_TIMEOUT_DOT 600     /* the reply to the final dot */
#define SENDMAIL_CMD_MAX     510     /* a command line without its CRLF */

enum sendmail_stage { SM_GREETING, SM_EHLO, SM_MAIL, SM_RCPT, SM_DATA, SM_DOT };

struct sendmail_smtp {
	int      fd;
	bool     verbose;
	int      timeout;              /* seconds, for the reply being read */
	char     rbuf[16384];          /* a whole reply must fit */
	size_t   rlen;
	size_t   used;                 /* octets of rbuf the last reply took */
	char     wbuf[65536];
	size_t   wlen;
	bool     bol;                  /* dot-stuffing: at the start of a line */
	struct mta_reply reply;        /* the last one; code 0 when there was none */
	struct mta_caps  caps;         /* from the EHLO reply */
	char     why[256];             /* the I/O or protocol failure, when code is 0 */
};

static void
sendmail_smtp_why(struct sendmail_smtp *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	s->reply.code = 0;
}

static int
sendmail_smtp_connect(struct sendmail_smtp *s, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = SENDMAIL_TIMEOUT };

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	/* A full listen backlog makes connect() wait; not forever. */
	setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(s->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		close(s->fd);
		s->fd = -1;
		errno = e;
		return -1;
	}
	return 0;
}

/* ---- replies ----------------------------------------------------------- */

static int
sendmail_smtp_fill(struct sendmail_smtp *s)
{
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
	ssize_t n = -1;
	int r;

	for (;;) {
		r = poll(&pfd, 1, s->timeout * 1000);
		if (r == 0) {
			sendmail_smtp_why(s, "timeout after %d seconds waiting for ferryd", s->timeout);
			return -1;
		}
		if (r > 0 && (n = recv(s->fd, s->rbuf + s->rlen, sizeof(s->rbuf) - s->rlen, 0)) > 0) {
			s->rlen += (size_t)n;
			return 0;
		}
		if (r > 0 && n == 0) {
			sendmail_smtp_why(s, "ferryd closed the connection");
			return -1;
		}
		if (errno != EINTR && errno != EAGAIN) {
			sendmail_smtp_why(s, "read error: %s", strerror(errno));
			return -1;
		}
	}
}

/* -v: the reply's lines as they came, without their CRLF. */
static void
sendmail_smtp_show(const char *buf, size_t len)
{
	while (len > 0) {
		const char *nl = memchr(buf, '\n', len);
		size_t n = nl != NULL ? (size_t)(nl - buf) + 1 : len, shown = n;

		while (shown > 0 && (buf[shown - 1] == '\n' || buf[shown - 1] == '\r'))
			shown--;
		fprintf(stderr, "<<< %.*s\n", (int)shown, buf);
		buf += n;
		len -= n;
	}
}

/* Read one reply into s->reply; its octets stay in rbuf (s->used) until
 * the next one is read, for the EHLO keywords. */
static int
sendmail_smtp_reply(struct sendmail_smtp *s)
{
	long n;

	memmove(s->rbuf, s->rbuf + s->used, s->rlen - s->used);
	s->rlen -= s->used;
	s->used = 0;
	while ((n = mta_reply_parse(s->rbuf, s->rlen, MTA_REPLY_STRICT, &s->reply)) == 0)
		if (s->rlen == sizeof(s->rbuf) || sendmail_smtp_fill(s) < 0)
			break;
	if (n <= 0) {
		if (n < 0 || s->rlen == sizeof(s->rbuf))
			sendmail_smtp_why(s, "malformed reply from ferryd");
		if (s->verbose)
			sendmail_smtp_show(s->rbuf, s->rlen);
		return -1;
	}
	s->used = (size_t)n;
	if (s->verbose)
		sendmail_smtp_show(s->rbuf, s->used);
	return 0;
}

/* ---- commands ---------------------------------------------------------- */

static int
sendmail_smtp_flush(struct sendmail_smtp *s)
{
	struct pollfd pfd = { .fd = s->fd, .events = POLLOUT };
	size_t off = 0;
	ssize_t n;

	while (off < s->wlen) {
		int r = poll(&pfd, 1, SENDMAIL_TIMEOUT * 1000);
		if (r == 0) {
			sendmail_smtp_why(s, "timeout after %d seconds sending to ferryd", SENDMAIL_TIMEOUT);
			return -1;
		}
		n = r > 0 ? send(s->fd, s->wbuf + off, s->wlen - off, MSG_NOSIGNAL) : -1;
		if (n > 0) {
			off += (size_t)n;
		} else if (errno != EINTR && errno != EAGAIN) {
			sendmail_smtp_why(s, "write error: %s", strerror(errno));
			return -1;
		}
	}
	s->wlen = 0;
	return 0;
}

static int
sendmail_smtp_put(struct sendmail_smtp *s, const char *buf, size_t len)
{
	while (len > 0) {
		size_t n = sizeof(s->wbuf) - s->wlen < len ? sizeof(s->wbuf) - s->wlen : len;
		memcpy(s->wbuf + s->wlen, buf, n);
		s->wlen += n;
		buf += n;
		len -= n;
		if (s->wlen == sizeof(s->wbuf) && sendmail_smtp_flush(s) < 0)
			return -1;
	}
	return 0;
}

/* Send one command line and read its reply. */
static int
sendmail_smtp_cmd(struct sendmail_smtp *s, const char *line)
{
	size_t len = strlen(line);

	if (len > SENDMAIL_CMD_MAX) {   /* the caller bounded every part; a bug if it happens */
		sendmail_smtp_why(s, "internal error: command too long");
		return -1;
	}
	if (s->verbose)
		fprintf(stderr, ">>> %s\n", line);
	if (sendmail_smtp_put(s, line, len) < 0 || sendmail_smtp_put(s, "\r\n", 2) < 0 ||
	    sendmail_smtp_flush(s) < 0)
		return -1;
	return sendmail_smtp_reply(s);
}

/* ---- outcome ----------------------------------------------------------- */

/* Sysexits code for a refusal, from the stage and the enhanced status
 * code (RFC 3463) when there is one, as sendmail reports them. */
static int
sendmail_smtp_exit_code(enum sendmail_stage st, const struct mta_reply *r)
{
	const char *t = r->text;
	int code = r->code, subject = -1, detail = -1;

	if (code / 100 != 5)
		return EX_TEMPFAIL;   /* 4xx, or a code the command may not return */
	if (strlen(t) >= 5 && t[0] == '5' && t[1] == '.' && t[2] >= '0' && t[2] <= '9' &&
	    t[3] == '.' && t[4] >= '0' && t[4] <= '9') {
		subject = t[2] - '0';
		detail = t[4] - '0';
	}
	if (st == SM_DOT || subject == 6 || (subject == 3 && detail == 4))
		return EX_DATAERR;    /* content refused, or too big */
	if (subject == 5)
		return EX_SOFTWARE;   /* ferryd calls what we sent bad syntax: our bug */
	if (st == SM_RCPT && (subject == 1 || (subject < 0 && (code == 550 || code == 551 || code == 553))))
		return EX_NOUSER;
	if (st == SM_MAIL && subject == 1)
		return EX_DATAERR;
	return EX_UNAVAILABLE;
}

/* Report a failed step on stderr; returns its exit code. what names the
 * command ("RCPT TO:<a@b>") or the stage. */
static int
sendmail_smtp_report(struct sendmail_smtp *s, enum sendmail_stage st, const char *what)
{
	if (s->reply.code == 0) {
		fprintf(stderr, "ferry-sendmail: %s: %s\n", what, s->why);
		return EX_TEMPFAIL;
	}
	fprintf(stderr, "ferry-sendmail: %s: ferryd replied: %d%s%s\n", what, s->reply.code,
	    s->reply.text[0] != '\0' ? " " : "", s->reply.text);
	return sendmail_smtp_exit_code(st, &s->reply);
}

/* QUIT after a refusal, when the session is still in step; its reply
 * changes nothing. */
static void
sendmail_smtp_quit(struct sendmail_smtp *s)
{
	s->timeout = 10;
	if (s->reply.code != 0)
		sendmail_smtp_cmd(s, "QUIT");
}

/* ---- the transaction --------------------------------------------------- */

static int
sendmail_smtp_content_cb(void *arg, const char *buf, size_t len)
{
	struct sendmail_smtp *s = arg;
	size_t i = 0, end;

	while (i < len) {
		const char *nl;
		if (s->bol && buf[i] == '.' && sendmail_smtp_put(s, ".", 1) < 0)
			return -1;   /* RFC 5321 4.5.2 transparency */
		nl = memchr(buf + i, '\n', len - i);
		end = nl != NULL ? (size_t)(nl - buf) + 1 : len;
		if (sendmail_smtp_put(s, buf + i, end - i) < 0)
			return -1;
		s->bol = nl != NULL;
		i = end;
	}
	return 0;
}

static int
sendmail_smtp_mail(struct sendmail_smtp *s, const struct sendmail_env *env, struct sendmail_msg *m)
{
	char cmd[SENDMAIL_CMD_MAX + 2];
	int n = snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>", env->sender);

	if (s->caps.has_size)
		n += snprintf(cmd + n, sizeof(cmd) - (size_t)n, " SIZE=%llu", (unsigned long long)m->out.size);
	if (m->out.eightbit && s->caps.eightbit)
		n += snprintf(cmd + n, sizeof(cmd) - (size_t)n, " BODY=8BITMIME");
	if (env->smtputf8)
		n += snprintf(cmd + n, sizeof(cmd) - (size_t)n, " SMTPUTF8");
	if (env->ret != NULL && s->caps.dsn)
		n += snprintf(cmd + n, sizeof(cmd) - (size_t)n, " RET=%s", env->ret);
	if (env->envid != NULL && s->caps.dsn)
		n += snprintf(cmd + n, sizeof(cmd) - (size_t)n, " ENVID=%s", env->envid);
	if ((size_t)n >= sizeof(cmd) - 1) {
		fprintf(stderr, "ferry-sendmail: MAIL command too long\n");
		return EX_SOFTWARE;
	}
	if (sendmail_smtp_cmd(s, cmd) < 0 || s->reply.code != 250)
		return sendmail_smtp_report(s, SM_MAIL, cmd);
	return EX_OK;
}

/* Every RCPT is tried so that all refused addresses are reported; the
 * result is the first permanent failure's code, else EX_TEMPFAIL. */
static int
sendmail_smtp_rcpts(struct sendmail_smtp *s, const struct sendmail_env *env)
{
	char cmd[SENDMAIL_CMD_MAX + 2];
	int rc = EX_OK, r;

	for (size_t i = 0; i < env->nrcpts; i++) {
		int n = snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>", env->rcpts[i]);
		if (env->notify != NULL && s->caps.dsn)
			snprintf(cmd + n, sizeof(cmd) - (size_t)n, " NOTIFY=%s", env->notify);
		if (sendmail_smtp_cmd(s, cmd) < 0)
			return sendmail_smtp_report(s, SM_RCPT, cmd);
		if (s->reply.code == 250 || s->reply.code == 251)
			continue;
		r = sendmail_smtp_report(s, SM_RCPT, cmd);
		if (rc == EX_OK || (rc == EX_TEMPFAIL && r != EX_TEMPFAIL))
			rc = r;
	}
	return rc;
}

static int
sendmail_smtp_data(struct sendmail_smtp *s, struct sendmail_msg *m)
{
	int r;

	if (sendmail_smtp_cmd(s, "DATA") < 0 || s->reply.code != 354)
		return sendmail_smtp_report(s, SM_DATA, "DATA");
	if (s->verbose)
		fprintf(stderr, ">>> (%llu octets of message)\n>>> .\n", (unsigned long long)m->out.size);
	s->bol = true;
	r = sendmail_msg_content_each(m, sendmail_smtp_content_cb, s);
	if (r == -2) {
		fprintf(stderr, "ferry-sendmail: cannot read the temporary file back: %s\n", strerror(errno));
		s->reply.code = 0;    /* mid-DATA: no QUIT, it would be content */
		return EX_TEMPFAIL;   /* ferryd discards the unterminated message when we close */
	}
	if (r < 0 || sendmail_smtp_put(s, ".\r\n", 3) < 0 || sendmail_smtp_flush(s) < 0) {
		/* ferryd may have said why before it stopped reading; if not,
		 * the write error is the news. */
		char why[sizeof(s->why)];
		memcpy(why, s->why, sizeof(why));
		s->timeout = 5;
		if (sendmail_smtp_reply(s) < 0) {
			memcpy(s->why, why, sizeof(why));
			return sendmail_smtp_report(s, SM_DOT, "sending the message");
		}
	} else {
		s->timeout = SENDMAIL_TIMEOUT_DOT;
		if (sendmail_smtp_reply(s) < 0)
			return sendmail_smtp_report(s, SM_DOT, "end of message");
	}
	if (s->reply.code != 250)
		return sendmail_smtp_report(s, SM_DOT, "end of message");
	return EX_OK;
}

static int
sendmail_smtp_session(struct sendmail_smtp *s, const struct sendmail_env *env, struct sendmail_msg *m)
{
	int rc;

	if (sendmail_smtp_reply(s) < 0 || s->reply.code != 220)
		return sendmail_smtp_report(s, SM_GREETING, "greeting");
	if (sendmail_smtp_cmd(s, "EHLO localhost") < 0 || s->reply.code != 250)
		return sendmail_smtp_report(s, SM_EHLO, "EHLO");
	mta_caps_parse(s->rbuf, s->used, &s->caps);
	if (env->smtputf8 && !s->caps.smtputf8) {
		fprintf(stderr, "ferry-sendmail: ferryd does not offer SMTPUTF8, which a non-ASCII address needs\n");
		return EX_UNAVAILABLE;
	}
	if ((rc = sendmail_smtp_mail(s, env, m)) != EX_OK)
		return rc;
	if ((rc = sendmail_smtp_rcpts(s, env)) != EX_OK)
		return rc;
	if ((rc = sendmail_smtp_data(s, m)) != EX_OK)
		return rc;
	s->timeout = 10;
	sendmail_smtp_cmd(s, "QUIT");   /* the message is queued; the reply changes nothing */
	return EX_OK;
}

int
sendmail_smtp_submit(const char *socket_path, const struct sendmail_env *env, struct sendmail_msg *m)
{
	struct sendmail_smtp *s = xcalloc(1, sizeof(*s));
	int rc;

	s->verbose = env->verbose;
	s->timeout = SENDMAIL_TIMEOUT;
	if (sendmail_smtp_connect(s, socket_path) < 0) {
		fprintf(stderr, "ferry-sendmail: cannot connect to ferryd at %s: %s (is ferryd running?)\n",
		    socket_path, strerror(errno));
		free(s);
		return EX_TEMPFAIL;
	}
	rc = sendmail_smtp_session(s, env, m);
	if (rc != EX_OK)
		sendmail_smtp_quit(s);
	close(s->fd);
	free(s);
	return rc;
}
