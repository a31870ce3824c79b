/*
 * smtp_internal.h - the session and transaction structures shared by the
 * files of the inbound SMTP engine (session I/O, commands, AUTH, content).
 * Not for use outside src/smtp/.
 *
 * Ownership: a session owns its transaction, its bufferevent and a
 * reference to the configuration generation it started with. It is freed
 * in one place (smtp_session_free) and never inside a bufferevent callback
 * that could still touch it: callbacks mark it and the free happens on the
 * way out (smtp_session_release).
 */
#ifndef FERRY_SMTP_INTERNAL_H
#define FERRY_SMTP_INTERNAL_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "conf/conf.h"
#include "net/server.h"
#include "net/server_snap.h"
#include "net/worker.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_parse.h"
#include "smtp/smtp_session.h"
#include "policy/tenant_send.h"
#include "spool/spool.h"
#include "state/state.h"
#include "state/verp.h"

#define SMTP_AUTH_LINE_MAX 12288   /* RFC 4954 4: initial response */
#define SMTP_HELO_MAX      255

enum smtp_state {
	SMTP_ST_COMMAND,      /* reading command lines */
	SMTP_ST_DATA,         /* reading DATA content */
	SMTP_ST_BDAT,         /* reading a BDAT chunk */
	SMTP_ST_AUTH,         /* reading an AUTH continuation line */
	SMTP_ST_WAIT,         /* waiting for a commit or auth result */
	SMTP_ST_CLOSING,      /* final reply written; close when flushed */
};

/* Which deadline runs (smtp_timeout.c). */
enum smtp_deadline {
	SMTP_DL_NONE,         /* the server's turn */
	SMTP_DL_COMMAND,      /* a whole command line */
	SMTP_DL_CONTENT,      /* DATA/BDAT content, with rate credit */
};

struct smtp_rcpt {
	struct smtp_path        path;
	struct smtp_rcpt_params params;
	bool                    is_return_path;  /* a tenant's b+TOKEN@bounce domain */
	struct verp_info        verp;            /* its authenticated token */
};

/* What a transaction's recipients are: the two kinds never mix. */
enum smtp_tx_kind {
	SMTP_TX_UNDECIDED = 0,
	SMTP_TX_MAIL,          /* ordinary recipients: the message is queued */
	SMTP_TX_RETURN_PATH,   /* return-path tokens: attributed, not delivered */
};

/* A dropped suppressed recipient (smtp_suppress.c), both strings owned. */
struct smtp_dropped {
	char *rcpt;
	char *detail;
};

/* One mail transaction: MAIL FROM up to the final reply. */
struct smtp_tx {
	bool                    active;      /* MAIL accepted */
	uint64_t                started_us;  /* when, for ferry_smtp_transaction_seconds */
	struct smtp_path        sender;
	struct smtp_mail_params params;
	struct smtp_rcpt       *rcpts;
	size_t                  nrcpts, rcpts_cap;
	size_t                  refused;     /* RCPTs refused, for logs */
	/* A tenant's suppressed recipients accepted and left out (its
	 * suppress_mode is drop): they count as recipients for the limits, are
	 * never written to the queue file, and a message of nothing else is
	 * answered 250 and not queued. Each is kept (address, "REASON: CAUSE")
	 * for its `suppressed` event, recorded once the message is accepted. */
	size_t                  ndropped;
	struct smtp_dropped    *dropped;     /* ndropped of them */
	bool                    rcpt_local;  /* the RCPT being decided is for a hosted domain */
	struct spool_msg       *msg;         /* open while content arrives */
	char                    id[SPOOL_ID_LEN + 1];
	struct smtp_data        reader;
	bool                    too_big;
	bool                    bdat;        /* content came in BDAT chunks */
	bool                    bdat_failed; /* discard chunks, reply error */
	const char             *bdat_error;
	uint64_t                bdat_left;   /* octets left in this chunk */
	bool                    bdat_last;
	enum smtp_tx_kind       kind;
	/* A tenant's message: its header section as it streamed to the spool
	 * (for the From: check), bounded by SENDER_HEADER_MAX. */
	char                   *hdr;
	size_t                  hdr_len, hdr_cap;
	/* Header fields ferry wrote ahead of the client's (Received:, and
	 * X-Ferry-Ref: for a tenant): a rewrite leaves them out and writes
	 * its own for the new queue id. */
	size_t                  prepended;
	bool                    hdr_done;    /* the empty line was seen */
	bool                    hdr_overflow;
	/* Rate-limit windows taken for this message (given back if the commit
	 * fails). */
	struct tenant_send_take take;
	/* A throttled tenant's recipients an hour (0: not throttled). */
	long long               throttle_rcpts;
	/* The transaction is the tenant's (lockdown, limits, 'G' record). A
	 * connector's client on the mx listener also brings ordinary inbound
	 * mail: its transaction becomes the tenant's at the first recipient
	 * that relays (tenant_pending until then). */
	bool                    as_tenant;
	bool                    tenant_pending;
	/* The last sender domain the state allowed in this transaction (MAIL
	 * FROM's, usually From:'s too): not asked again at the end of DATA. */
	char                    allowed_domain[256];
	/* Set before the commit: the message goes into hold/ with this reason
	 * (a milter's quarantine, a tenant under review) instead of queue/. */
	char                    hold_reason[128];
	bool                    hold_review;    /* ...because its tenant is under review */
	/* The content filters' verdict (smtp_milter.c), for the tenant's
	 * reputation: scanned by at least one, refused as spam, its score. */
	bool                    scanned;
	bool                    spam;
	bool                    scored;
	double                  score;
};

struct smtp_session {
	struct worker_conn   conn;          /* in the worker's list */
	struct worker       *worker;
	struct server       *srv;           /* connection limits (net) */
	const struct smtp_handles *h;
	struct server_snap  *snap;
	const struct conf   *conf;          /* snap->conf */
	struct bufferevent  *bev;
	SSL                 *ssl;
	enum conf_role       role;
	size_t               listener;      /* index in conf->listeners */
	struct sockaddr_storage peer;
	char                 addr[64];      /* client address text */
	unsigned long long   sid;           /* session number for logs */

	enum smtp_state      state;
	bool                 helo_seen, esmtp, tls, skip_line;
	char                 helo[SMTP_HELO_MAX + 1];
	char                 tls_info[128];
	char                *auth_user;      /* set once authenticated */
	/* The relay-service tenant this session sends as (an account or API
	 * key after AUTH, or a connector matched at connect), else kind NONE. */
	struct state_ident   ident;
	char                 tenant_reply[256];  /* a tenant refusal at RCPT, until replied */
	struct state_ident   auth_ident;     /* AUTH result in flight (auth pool) */
	int                  auth_failures;
	int                  auth_step;      /* LOGIN: 1 = want user, 2 = want pass */
	int                  auth_mech;      /* 1 PLAIN, 2 LOGIN */
	char                *auth_login_user;

	struct smtp_tx       tx;
	int                  errors;         /* refusals in the session (logged) */
	int                  strikes;        /* ... since the last queued message */
	unsigned             nmail, nrcpt, nqueued, nrset, ncmd;
	unsigned             njunk;          /* NOOP, RSET, VRFY since the last queued message */

	/* Completions from other threads (committer, auth pool) land here. */
	struct event        *async_ev;
	int                  async_kind;     /* 1 commit, 2 auth */
	int                  async_result;
	int                  pending;        /* async operations in flight */
	struct event        *delay_ev;       /* failed-AUTH slow-down */
	char                 delayed_reply[128];
	struct event        *deadline_ev;    /* smtp_timeout.c */
	enum smtp_deadline   deadline_kind;
	long long            deadline_start; /* CLOCK_MONOTONIC ms */
	uint64_t             deadline_bytes; /* content octets since then */
	struct event        *linger_ev;      /* closing: wait for TLS flush */
	int                  linger_rounds;
	bool                 shutdown_asked, closed, in_callback, free_asked;
};

/* smtp_session.c */
void smtp_reply(struct smtp_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void smtp_reply_error(struct smtp_session *s, const char *reply);
void smtp_close_after_reply(struct smtp_session *s);
/* Free the session if it is closed and nothing is in flight. */
void smtp_session_release(struct smtp_session *s);
void smtp_starttls(struct smtp_session *s);
void smtp_input_process(struct smtp_session *s);
bool smtp_may_relay(const struct smtp_session *s);
bool smtp_tls_first(const struct smtp_session *s);
const char *smtp_proto_name(const struct smtp_session *s);

/* smtp_timeout.c */
void smtp_timeouts_set(struct smtp_session *s);
void smtp_timeout_expired(struct smtp_session *s, const char *reason);
/* After input was processed; progress: a complete line was taken. */
void smtp_deadline_update(struct smtp_session *s, bool progress);

/* smtp_cmd.c */
void smtp_cmd_dispatch(struct smtp_session *s, const char *line, size_t len);
void smtp_tx_reset(struct smtp_session *s);
/* Refusals of a transaction: logged as event=EVENT with the reply; refuse
 * also sends it and counts it as an error. */
void smtp_tx_refusal_log(struct smtp_session *s, const char *event, const char *reply);
void smtp_tx_refuse(struct smtp_session *s, const char *event, const char *reply);

/* smtp_auth.c */
void smtp_cmd_auth(struct smtp_session *s, const char *arg, size_t len);
void smtp_auth_line(struct smtp_session *s, const char *line, size_t len);
void smtp_auth_result(struct smtp_session *s, int result);

/* smtp_tenant.c: the relay service's rules for tenants' sessions. Each
 * check returns NULL (go on) or the reply (in buf, or a constant). */
void smtp_tenant_connect(struct smtp_session *s);
const char *smtp_tenant_mail_check(struct smtp_session *s, char *buf, size_t bufsz);
const char *smtp_tenant_rcpt_check(struct smtp_session *s, char *buf, size_t bufsz);
/* A recipient that relays: a pending connector transaction becomes the
 * tenant's here (the MAIL checks run now); NULL or the refusal. */
const char *smtp_tenant_relay_rcpt(struct smtp_session *s, char *buf, size_t bufsz);
void smtp_tenant_header_capture(struct smtp_session *s, const char *p, size_t len);
const char *smtp_tenant_content_check(struct smtp_session *s, char *buf, size_t bufsz);
void smtp_tenant_commit_failed(struct smtp_session *s);

/* smtp_suppress.c: tenants' suppression lists. A recipient of a tenant's
 * transaction on its list: NULL (go on), "" (accepted and dropped: the
 * tenant's mode is drop), or the refusal (550 5.7.1 in buf, or 451 4.3.0
 * when the list cannot be read). */
const char *smtp_suppress_rcpt_check(struct smtp_session *s, const struct smtp_path *p,
    char *buf, size_t bufsz);
/* End of a message whose every recipient was dropped: 250, not queued. */
void smtp_suppress_msg_drop(struct smtp_session *s);
/* The events of a queued transaction (smtp_events.c): received per
 * recipient, suppressed per dropped one, held. */
void smtp_events_queued(struct smtp_session *s);
/* Only the suppressed ones: accepted, but not queued (all dropped, discarded). */
void smtp_events_suppressed(struct smtp_session *s);
/* Frees the dropped recipients (smtp_tx_reset). */
void smtp_suppress_dropped_free(struct smtp_tx *tx);

/* smtp_return_path.c: recipients that are return-path tokens (bounces). */
/* NULL: not a bounce domain's address (the ordinary rules apply); else
 * "" when r is a genuine token (r->verp set), or the refusal. */
const char *smtp_return_path_rcpt(struct smtp_session *s, struct smtp_rcpt *r);
/* A path's domain, lowercase, no trailing dot; false: none or a literal. */
bool smtp_path_domain_lower(const struct smtp_path *p, char *out, size_t outsz);
/* Record the transaction's bounces durably; 0, or -1 (reply 451). */
int smtp_return_path_record(struct smtp_session *s);

/* smtp_content.c */
void smtp_cmd_data(struct smtp_session *s, const char *arg, size_t len);
void smtp_cmd_bdat(struct smtp_session *s, const char *arg, size_t len);
size_t smtp_content_feed(struct smtp_session *s, const char *buf, size_t len);
/* The content was accepted (checks and scans done): make it durable (into
 * hold/ when tx->hold_reason is set); the reply follows in
 * smtp_commit_result. */
void smtp_content_commit(struct smtp_session *s);
void smtp_commit_result(struct smtp_session *s, int error);
/* A new spool file for the transaction up to its Received: header. */
bool smtp_msg_start(struct smtp_session *s);

/* smtp_milter.c: content filters at the end of DATA, before the commit.
 * true: a scan runs and will commit or reply itself; false: no filter
 * applies (commit now). */
bool smtp_milter_start(struct smtp_session *s);

#endif
