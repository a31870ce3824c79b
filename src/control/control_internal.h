/*
 * control_internal.h - what control.c (the socket, connections, request
 * parsing, replies) and control_cmd.c (what each request does) share.
 * Not for use outside src/control/.
 */
#ifndef FERRY_CONTROL_INTERNAL_H
#define FERRY_CONTROL_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "control/control_summary.h"
#include "queue/qmgr.h"
#include "spool/spool.h"

#define CONTROL_OUT_MAX    8192   /* reply buffer, flushed when full */
#define CONTROL_WHY_MAX    384    /* a reason may name a site of 255 octets */

struct control {
	int          fd;             /* listening socket */
	int          stop[2];        /* a byte in stop[0] means "stop"; never drained */
	char        *path;
	dev_t        dev;            /* the socket file we bound: unlink only that */
	ino_t        ino;
	gid_t        gid;            /* the socket's group */
	struct qmgr *q;
	pthread_t    thread;
	bool         bound;          /* the file at path is ours */
	bool         running;
};

/* One connection, served and freed by control_accept(). */
struct control_conn {
	struct control *c;
	int             fd;
	struct ucred    cred;
	char            why[CONTROL_WHY_MAX];   /* the ERR reason */
	char            out[CONTROL_OUT_MAX];
	size_t          outlen;
	bool            failed;      /* a write failed, timed out or we stop: write no more */
};

enum control_arg {
	CONTROL_ARG_NONE, CONTROL_ARG_ID, CONTROL_ARG_OPT_ID, CONTROL_ARG_TENANT, CONTROL_ARG_SITE
};

struct control_cmd;

/* A parsed request; its strings are copies, valid while it is served. */
struct control_req {
	const struct control_cmd *cmd;
	char id[SPOOL_ID_LEN + 1];   /* "" when none */
	long long tenant;            /* CONTROL_ARG_TENANT */
	char site[CONTROL_SITE_NAME_MAX + 1];   /* CONTROL_ARG_SITE */
};

typedef int (*control_action_fn)(struct qmgr *q, const char *id);

struct control_cmd {
	const char       *name;
	enum control_arg  arg;
	bool              changes;   /* an operator action: logged at info */
	int             (*run)(struct control_conn *cc, const struct control_req *r);
	control_action_fn action;    /* for control_cmd_action */
	bool              suspend;   /* for control_cmd_suspend: suspend, else resume */
};

/* ---- control.c: the reply being written ---- */
/* Set the ERR reason; returns -1. */
int  control_fail(struct control_conn *cc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Queue octets of the reply (flushed when the buffer fills). */
void control_out(struct control_conn *cc, const char *s, size_t len);
void control_puts(struct control_conn *cc, const char *s);
/* One field: control characters (TAB, CR, LF...) sent as '?'. */
void control_field(struct control_conn *cc, const char *s);

/* ---- control_cmd.c ---- */
/* The command called name, or NULL. */
const struct control_cmd *control_cmd_find(const char *name);

#endif
