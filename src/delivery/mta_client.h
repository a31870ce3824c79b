/*
 * mta_client.h - the outbound SMTP client: one connection to one peer,
 * with timeouts, run by a delivery coroutine (net/coro.h), reused
 * for several transactions to the same peer.
 * STANDARDS: RFC 5321 (client side), RFC 2920 PIPELINING, RFC 1870 SIZE,
 * RFC 6152 8BITMIME, RFC 6531 SMTPUTF8, RFC 3461 DSN (passes NOTIFY, ORCPT,
 * RET, ENVID on), RFC 3207 STARTTLS, RFC 4954 AUTH PLAIN (smarthosts), RFC
 * 2033 LMTP (one reply per recipient after DATA).
 * SECURITY: the peer is untrusted. Replies are parsed strictly (3 digits,
 * same code on every line, '-' or ' ' separator, bounded line and reply
 * length); anything malformed, a connection lost or a timeout is a
 * temporary failure of every recipient still open. Content is dot-stuffed
 * on the way out; it already has CRLF line ends only (the spool guarantees).
 */
#ifndef FERRY_DELIVERY_MTA_CLIENT_H
#define FERRY_DELIVERY_MTA_CLIENT_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "util/mta_reply.h"
#include "util/smtp_kinds.h"

/* none; may = opportunistic (RFC 7435), clear text if the handshake fails;
 * require = encrypted, any certificate; verify = encrypted and the
 * certificate chains to a trusted CA and names tls_name. Ordered: each
 * asks more than the one before (">= MTA_TLS_REQUIRE" means TLS or defer). */
enum mta_tls { MTA_TLS_NONE, MTA_TLS_MAY, MTA_TLS_REQUIRE, MTA_TLS_VERIFY };

struct mta_opts {
	const char   *helo;          /* our name for EHLO/LHLO */
	bool          lmtp;          /* speak LMTP (LHLO, per-recipient DATA replies) */
	enum mta_tls  tls;
	SSL_CTX      *tls_ctx;       /* client context (tls_client_ctx_new) */
	const char   *tls_name;      /* SNI, and the name a verified certificate must carry */
	const char   *auth_user;     /* AUTH PLAIN when set: only over TLS with a verified
	                              * certificate, or a local Unix socket */
	const char   *auth_pass;
	bool          auth_unverified; /* route says tls_verify=no: AUTH over any TLS */
	int           timeout_s;     /* per command / per block; default 300 when 0 */
	int           connect_timeout_s; /* TCP connect; default 30 when 0 */
};

struct mta_rcpt {
	const char *addr;
	unsigned    notify;          /* SMTP_NOTIFY_* bits, 0 = none given */
	const char *orcpt;           /* "rfc822;xtext" or NULL */
	struct mta_reply result;     /* filled by mta_send: final reply for this recipient */
};

struct mta_msg {
	const char  *sender;          /* "" for <> */
	const char  *envid;           /* xtext-decoded or NULL */
	enum smtp_ret  ret;
	enum smtp_body body;          /* passed on when it is 8BITMIME */
	bool         smtputf8;        /* needs SMTPUTF8 from the peer */
	const char  *prefix;          /* header lines sent before the content (DKIM-Signature), or NULL */
	int          content_fd;      /* read with pread from content_off */
	/* When set: called for the content's descriptor right before the
	 * content is sent, and closed by mta_send right after it, so a
	 * transaction waiting on its peer holds no file (content_fd unused). */
	int        (*content_open)(void *arg);
	void        *content_arg;
	off_t        content_off;
	uint64_t     content_len;
	struct mta_rcpt *rcpts;
	size_t       nrcpts;
};

struct mta_conn;

/* Connect to addr (port set), optionally from src, read the greeting, EHLO
 * (HELO fallback), STARTTLS per opts, AUTH if configured. NULL on failure
 * with why (4xx for temporary, 5xx when the peer refused us permanently in
 * its greeting or EHLO). */
struct mta_conn *mta_connect(const struct sockaddr *addr, socklen_t addrlen,
    const struct sockaddr *src, socklen_t srclen, const struct mta_opts *o,
    struct mta_reply *why);
/* Same over an already connected socket (unix sockets for LMTP); takes fd. */
struct mta_conn *mta_connect_fd(int fd, const struct mta_opts *o, struct mta_reply *why);

/* One transaction. Fills every rcpts[i].result. Returns 0 when the
 * connection can be reused (RSET done if needed), -1 when it is dead
 * (then close it), 1 when this peer cannot take the message at all and
 * nothing was sent (another host may): larger than the peer's SIZE (552
 * 5.3.4 for all) or SMTPUTF8 needed but not offered (550 5.6.7 for all).
 * A MAIL or DATA failure applies to every recipient. */
int mta_send(struct mta_conn *c, const struct mta_msg *m);

/* QUIT politely and free. */
void mta_close(struct mta_conn *c);

/* What the peer offered, for logs: "TLSv1.3 TLS_AES_256_GCM_SHA384" or "". */
const char *mta_tls_info(const struct mta_conn *c);
const char *mta_peer_name(const struct mta_conn *c);  /* "host[addr]:port" */
/* The peer announced DSN, so NOTIFY/ORCPT went on and success notices are its job. */
bool mta_peer_dsn(const struct mta_conn *c);

#endif
