/*
 * milter.h - ferry's milter client: a message that reached the end of DATA
 * is shown to each configured filter in turn (sendmail milter protocol v6,
 * as Postfix and sendmail speak it), on the session's own event loop, and
 * the filters' verdict comes back through a callback.
 * One filter connection per message: negotiate, CONNECT, HELO, MAIL, RCPT...,
 * DATA, HEADER..., EOH, BODY..., EOM, QUIT. The content is read back from
 * the spool file being written (env->read), never kept in memory whole.
 * SECURITY: filters are separate processes and not trusted (milter_proto.c
 * decodes their replies strictly); a filter that is down, slow, dies or
 * talks nonsense gets its default action (tempfail or accept), logged.
 */
#ifndef FERRY_MILTER_MILTER_H
#define FERRY_MILTER_MILTER_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "milter/milter_proto.h"

/* What the filters are told about the message; every pointer must stay
 * valid until the done callback ran. */
struct milter_env {
	unsigned long long   sid;            /* for logs */
	const char          *queue_id;       /* macro i, and logs */
	const char          *hostname;       /* macro j */
	const char          *client_addr;    /* "127.0.0.1"; "" for the local socket */
	int                  client_family;  /* AF_INET, AF_INET6, AF_UNIX */
	unsigned             client_port;
	const char          *helo;
	const char          *auth_user;      /* NULL: not authenticated */
	const char          *sender;         /* "" for <> */
	const char *const   *rcpts;
	size_t               nrcpts;
	/* The content (header section first): read len octets at off into
	 * buf; the count (0 at the end), or -1. */
	long               (*read)(void *arg, uint64_t off, void *buf, size_t len);
	void                *read_arg;
	uint64_t             size;
};

enum milter_verdict {
	MILTER_V_ACCEPT,     /* no filter objected (continue or accept) */
	MILTER_V_REJECT,     /* 5xx */
	MILTER_V_TEMPFAIL,   /* 4xx, or a failed filter whose default is tempfail */
	MILTER_V_DISCARD,    /* accept and drop */
};

enum milter_edit_kind { MILTER_EDIT_ADD, MILTER_EDIT_INSERT, MILTER_EDIT_CHANGE };

/* A header edit asked at end of message, in the order asked. */
struct milter_edit {
	enum milter_edit_kind kind;
	uint32_t              index;   /* INSERT: position; CHANGE: n-th of that name (1-based) */
	char                 *name, *value;   /* CHANGE with value "": delete */
};

struct milter_result {
	enum milter_verdict verdict;
	char                reply[MILTER_TEXT_MAX + 1];  /* the filter's own "5xx ..." or "" */
	char                milter[64];                 /* the filter that decided, or "" */
	bool                spam;                       /* a reject by a spam=yes filter */
	bool                failed;                     /* a default action was applied */
	bool                quarantine;
	char                quarantine_reason[256];
	struct milter_edit *edits;
	size_t              nedits;
	bool                scored;                     /* a spam score was found in a header */
	double              score;
};

struct milter_scan;
/* r is the scan's and valid only during the call; the scan is freed after. */
typedef void (*milter_done_cb)(void *arg, const struct milter_result *r);

/* Show the message to milters[0..n) in turn. The callback runs later on
 * base's thread (never from inside this call). */
struct milter_scan *milter_scan_start(struct event_base *base, const struct conf_milter *const *milters,
    size_t n, const struct milter_env *env, milter_done_cb cb, void *arg);

/* The spam score a filter put in a header it added (rspamd's X-Spamd-Result
 * or X-Rspamd-Score, SpamAssassin's X-Spam-Status). true when found. */
bool milter_score_parse(const char *name, const char *value, double *score);

/* A message's header section, read back for the filters and for edits. */
struct milter_hdr {
	size_t off, len;               /* the raw field, CRLF included */
	size_t name_len;
	size_t value_off, value_len;   /* after "name:" and its white space, before the CRLF */
};

struct milter_hdrs {
	char              *buf;        /* the header section */
	size_t             len;
	struct milter_hdr *v;
	size_t             n;
	uint64_t           end;        /* offset of the empty line (or of the content's end) */
	uint64_t           body;       /* offset of the body: after the empty line */
};

#define MILTER_HDRS_MAX (1024 * 1024)   /* beyond: the rest is body for the filters */

/* Read and split the header section: 0, or -1 (read error). */
int  milter_hdrs_load(struct milter_hdrs *h, const struct milter_env *env);
void milter_hdrs_free(struct milter_hdrs *h);
/* Write the header section with edits applied, without the empty line;
 * the first skip original headers (the ones ferry prepended, written anew
 * by the caller) are left out. 0, or -1 when write failed. */
int  milter_hdrs_write(const struct milter_hdrs *h, const struct milter_edit *e, size_t ne,
    size_t skip, int (*write)(void *arg, const void *buf, size_t len), void *arg);

#endif
