/*
 * control.c - the control socket: how ferryctl steers the queue manager.
 * One thread accepts connections and serves them one at a time; each
 * carries one request line and gets data lines, then "OK" or "ERR reason".
 *
 * Protocol (every line ends in LF; a request is at most CONTROL_LINE_MAX
 * octets and must arrive within CONTROL_TIMEOUT_MS):
 *   request = command [SP id] LF | "release-tenant" SP tenant LF
 *   command = "list" | "show" | "hold" | "release" | "delete" | "requeue"
 *           | "flush"                       (flush: id optional, else all)
 *   id      = 16 uppercase hex digits (spool_id.c)
 *   tenant  = 1*18 DIGIT                    (a tenant id of the state database)
 *   reply   = *data-line ("OK" | "ERR" SP reason) LF
 * For list and show, per message (fields separated by one TAB):
 *   "msg" id state size arrival next-try attempts sender
 *   "error" text                 the last error, only when there is one
 *   "rcpt" address               once per recipient still to deliver
 * For release-tenant (every held message of the tenant back to the queue,
 * sent by `ferryctl tenant resume`): "released" TAB count.
 * Times are unix seconds (0: none); sender "" is the null sender <>;
 * control characters in any field (TAB included) are sent as '?'.
 *
 * SECURITY: the socket is mode 0660, owned by the run user and its group,
 * and each peer is checked again with SO_PEERCRED/SO_PEERGROUPS: root, the
 * run user and members of the socket's group only. A request is parsed
 * strictly; the id is checked against the spool id syntax before the queue
 * manager sees it, and nothing from it is used as a path or passed to a
 * shell. A peer is served only for CONTROL_TIMEOUT_MS per read or write.
 */
#include "control/control.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "queue/qmgr.h"
#include "spool/spool.h"
#include "spool/spool_env.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define CONTROL_LINE_MAX   1024   /* a request line, LF included */
#define CONTROL_TIMEOUT_MS 5000   /* to send the request; per reply flush */
#define CONTROL_OUT_MAX    8192   /* reply buffer, flushed when full */
#define CONTROL_GROUPS_MAX 256    /* supplementary groups of a peer looked at */
#define CONTROL_WHY_MAX    128

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

/* Set the ERR reason; returns -1. */
static int control_fail(struct control_conn *cc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

enum control_arg { CONTROL_ARG_NONE, CONTROL_ARG_ID, CONTROL_ARG_OPT_ID, CONTROL_ARG_TENANT };

struct control_cmd;

struct control_req {
	const struct control_cmd *cmd;
	char id[SPOOL_ID_LEN + 1];   /* "" when none */
	long long tenant;            /* CONTROL_ARG_TENANT */
};

typedef int (*control_action_fn)(struct qmgr *q, const char *id);

struct control_cmd {
	const char       *name;
	enum control_arg  arg;
	bool              changes;   /* an operator action: logged at info */
	int             (*run)(struct control_conn *cc, const struct control_req *r);
	control_action_fn action;    /* for control_cmd_action */
};

/* ---- time and waiting ---------------------------------------------------- */

static int64_t
control_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until deadline (control_now_ms) or a stop.
 * Returns 1 when fd is ready (or in error: the next call tells), 0 on
 * timeout or stop, -1 when poll fails. */
static int
control_wait(const struct control *c, int fd, short events, int64_t deadline)
{
	struct pollfd pfd[2] = { { fd, events, 0 }, { c->stop[0], POLLIN, 0 } };
	int64_t left;
	int n;

	for (;;) {
		if ((left = deadline - control_now_ms()) <= 0)
			return 0;
		n = poll(pfd, 2, left > INT32_MAX ? INT32_MAX : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (pfd[1].revents != 0)
			return 0;
		if (pfd[0].revents != 0)
			return 1;
	}
}

static int
control_fail(struct control_conn *cc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cc->why, sizeof(cc->why), fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- replies --------------------------------------------------------------- */

static void
control_flush(struct control_conn *cc)
{
	int64_t deadline = control_now_ms() + CONTROL_TIMEOUT_MS;
	size_t off = 0;
	ssize_t n;

	while (!cc->failed && off < cc->outlen) {
		n = send(cc->fd, cc->out + off, cc->outlen - off, MSG_NOSIGNAL);
		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    control_wait(cc->c, cc->fd, POLLOUT, deadline) == 1)
			continue;
		else
			cc->failed = true;
	}
	cc->outlen = 0;
}

static void
control_out(struct control_conn *cc, const char *s, size_t len)
{
	size_t n;

	while (len > 0 && !cc->failed) {
		n = sizeof(cc->out) - cc->outlen;
		if (n > len)
			n = len;
		memcpy(cc->out + cc->outlen, s, n);
		cc->outlen += n;
		s += n;
		len -= n;
		if (cc->outlen == sizeof(cc->out))
			control_flush(cc);
	}
}

static void
control_puts(struct control_conn *cc, const char *s)
{
	control_out(cc, s, strlen(s));
}

/* One field: control characters (TAB, CR, LF...) would break the framing. */
static void
control_field(struct control_conn *cc, const char *s)
{
	char ch;

	for (; *s != '\0' && !cc->failed; s++) {
		ch = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
		control_out(cc, &ch, 1);
	}
}

/* A qmgr_view_fn: one message as "msg", "error" and "rcpt" lines. */
static void
control_view_emit(void *arg, const struct qmgr_view *v)
{
	struct control_conn *cc = arg;
	char num[160];

	if (cc->failed)
		return;
	control_puts(cc, "msg\t");
	control_field(cc, v->id);
	control_puts(cc, "\t");
	control_field(cc, v->state);
	snprintf(num, sizeof(num), "\t%" PRIu64 "\t%lld\t%lld\t%d\t", v->size,
	    (long long)v->arrival, (long long)v->next_try, v->attempts);
	control_puts(cc, num);
	control_field(cc, v->sender);
	control_puts(cc, "\n");
	if (v->last_error != NULL && v->last_error[0] != '\0') {
		control_puts(cc, "error\t");
		control_field(cc, v->last_error);
		control_puts(cc, "\n");
	}
	for (size_t i = 0; i < v->nrcpts; i++) {
		control_puts(cc, "rcpt\t");
		control_field(cc, v->rcpts[i]);
		control_puts(cc, "\n");
	}
}

static void
control_reply_end(struct control_conn *cc, int rc)
{
	if (rc == 0)
		control_puts(cc, "OK\n");
	else {
		control_puts(cc, "ERR ");
		control_field(cc, cc->why[0] != '\0' ? cc->why : "failed");
		control_puts(cc, "\n");
	}
	control_flush(cc);
}

/* ---- commands ---------------------------------------------------------------- */

static int
control_cmd_list(struct control_conn *cc, const struct control_req *r)
{
	(void)r;
	qmgr_list(cc->c->q, control_view_emit, cc);
	return 0;
}

/* One "env" line: a key and its value. */
static void
control_env_line(struct control_conn *cc, const char *key, const char *value)
{
	if (value == NULL || value[0] == '\0')
		return;
	control_puts(cc, "env\t");
	control_puts(cc, key);
	control_puts(cc, "\t");
	control_field(cc, value);
	control_puts(cc, "\n");
}

/* The envelope as received and each finished recipient with its outcome. */
static void
control_envelope_emit(struct control_conn *cc, const struct spool_env *env)
{
	control_env_line(cc, "client", env->client_addr);
	control_env_line(cc, "helo", env->helo);
	control_env_line(cc, "auth", env->auth);
	control_env_line(cc, "envid", env->envid);
	control_env_line(cc, "ret", smtp_ret_name(env->ret));
	control_env_line(cc, "body", smtp_body_name(env->body));
	control_env_line(cc, "smtputf8", env->smtputf8 ? "yes" : NULL);
	control_env_line(cc, "source", env->source);
	control_env_line(cc, "delay warning", env->warned ? "sent" : NULL);
	for (size_t i = 0; i < env->nrcpts && !cc->failed; i++) {
		if (env->rcpts[i].state == SPOOL_RCPT_PENDING)
			continue;
		control_puts(cc, "done\t");
		control_field(cc, env->rcpts[i].addr);
		control_puts(cc, env->rcpts[i].state == SPOOL_RCPT_DELIVERED ? "\tdelivered\n" : "\tbounced\n");
	}
}

static int
control_cmd_show(struct control_conn *cc, const struct control_req *r)
{
	struct spool_env env;

	if (qmgr_show(cc->c->q, r->id, control_view_emit, cc) != 0)
		return control_fail(cc, "no such message");
	if (qmgr_envelope(cc->c->q, r->id, &env) == 0) {
		control_envelope_emit(cc, &env);
		spool_env_free(&env);
	}
	return 0;
}

#define CONTROL_STATE_MAX 16

/* A qmgr_view_fn keeping the state of a message (arg: CONTROL_STATE_MAX). */
static void
control_state_get(void *arg, const struct qmgr_view *v)
{
	snprintf(arg, CONTROL_STATE_MAX, "%s", v->state);
}

/* The queue manager said no: find out why, for the operator. */
static int
control_action_explain(struct control_conn *cc, const struct control_req *r)
{
	const char *cmd = r->cmd->name;
	char state[CONTROL_STATE_MAX] = "";

	if (qmgr_show(cc->c->q, r->id, control_state_get, state) < 0)
		return control_fail(cc, "no such message");
	if (strcmp(cmd, "hold") == 0 && strcmp(state, "hold") == 0)
		return control_fail(cc, "message is already held");
	if (strcmp(cmd, "release") == 0 && strcmp(state, "hold") != 0)
		return control_fail(cc, "message is not held (it is %s)", state);
	if (strcmp(state, "hold") == 0)
		return control_fail(cc, "message is held: release it first");
	return control_fail(cc, "cannot %s a %s message now", cmd, state);
}

static int
control_cmd_action(struct control_conn *cc, const struct control_req *r)
{
	const char *id = r->id[0] != '\0' ? r->id : NULL;

	if (r->cmd->action(cc->c->q, id) == 0)
		return 0;
	return control_action_explain(cc, r);
}

/* A resumed tenant's mail, held while it was suspended, goes out again. */
static int
control_cmd_release_tenant(struct control_conn *cc, const struct control_req *r)
{
	char line[64];

	snprintf(line, sizeof(line), "released\t%ld\n", qmgr_release_tenant(cc->c->q, r->tenant));
	control_puts(cc, line);
	return 0;
}

static const struct control_cmd control_cmds[] = {
	{ "list",    CONTROL_ARG_NONE,   false, control_cmd_list,   NULL },
	{ "show",    CONTROL_ARG_ID,     false, control_cmd_show,   NULL },
	{ "hold",    CONTROL_ARG_ID,     true,  control_cmd_action, qmgr_hold },
	{ "release", CONTROL_ARG_ID,     true,  control_cmd_action, qmgr_release },
	{ "delete",  CONTROL_ARG_ID,     true,  control_cmd_action, qmgr_delete },
	{ "requeue", CONTROL_ARG_ID,     true,  control_cmd_action, qmgr_requeue },
	{ "flush",   CONTROL_ARG_OPT_ID, true,  control_cmd_action, qmgr_flush },
	{ "release-tenant", CONTROL_ARG_TENANT, true, control_cmd_release_tenant, NULL },
};

/* ---- requests -------------------------------------------------------------- */

static bool
control_id_valid(const char *s)
{
	size_t n = strspn(s, "0123456789ABCDEF");

	return n == SPOOL_ID_LEN && s[n] == '\0';
}

static const struct control_cmd *
control_cmd_find(const char *name)
{
	for (size_t i = 0; i < sizeof(control_cmds) / sizeof(control_cmds[0]); i++)
		if (strcmp(control_cmds[i].name, name) == 0)
			return &control_cmds[i];
	return NULL;
}

/* Split line (NUL-terminated, no LF) into words at spaces; up to max. */
static int
control_words(char *line, char **w, int max)
{
	int n = 0;

	for (;;) {
		line += strspn(line, " ");
		if (*line == '\0' || n == max)
			return n;
		w[n++] = line;
		line += strcspn(line, " ");
		if (*line != '\0')
			*line++ = '\0';
	}
}

/* "release-tenant ID": a positive decimal of at most 18 digits. */
static int
control_tenant_parse(struct control_conn *cc, struct control_req *r, char **w, int n)
{
	size_t len;

	if (n != 2)
		return control_fail(cc, "%s takes one tenant id", r->cmd->name);
	len = strspn(w[1], "0123456789");
	if (len == 0 || len > 18 || w[1][len] != '\0' || (r->tenant = strtoll(w[1], NULL, 10)) <= 0)
		return control_fail(cc, "invalid tenant id");
	return 0;
}

/* "command [id]" into r. Returns 0, or -1 with cc->why set. */
static int
control_req_parse(struct control_conn *cc, char *line, struct control_req *r)
{
	char *w[3];
	int n = control_words(line, w, 3);
	int want;

	if (n == 0)
		return control_fail(cc, "empty request");
	if ((r->cmd = control_cmd_find(w[0])) == NULL)
		return control_fail(cc, "unknown command");
	r->id[0] = '\0';
	r->tenant = 0;
	if (r->cmd->arg == CONTROL_ARG_TENANT)
		return control_tenant_parse(cc, r, w, n);
	want = r->cmd->arg == CONTROL_ARG_NONE ? 1 : 2;
	if (n > want || (n < want && r->cmd->arg == CONTROL_ARG_ID))
		return control_fail(cc, "%s takes %s", r->cmd->name,
		    want == 1 ? "no argument" : "one queue id");
	if (n == 2 && !control_id_valid(w[1]))
		return control_fail(cc, "invalid queue id");
	if (n == 2)
		memcpy(r->id, w[1], SPOOL_ID_LEN + 1);
	return 0;
}

/* A line of printable octets (UTF-8 welcome) ending in LF, CR LF tolerated. */
static int
control_line_check(struct control_conn *cc, char *buf, size_t len)
{
	char *lf = memchr(buf, '\n', len);

	if (lf == NULL)
		return 0;
	if (lf > buf && lf[-1] == '\r')
		lf--;
	*lf = '\0';
	for (char *p = buf; p < lf; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return control_fail(cc, "control character in request");
	return 1;
}

/* Read the request line into buf (size CONTROL_LINE_MAX + 1). Returns 0, or
 * -1 with cc->why set ("" when the peer went away: nobody to tell). */
static int
control_line_read(struct control_conn *cc, char *buf, size_t size)
{
	int64_t deadline = control_now_ms() + CONTROL_TIMEOUT_MS;
	size_t len = 0;
	ssize_t n;
	int rc;

	for (;;) {
		if (len == size - 1)
			return control_fail(cc, "request too long");
		if (control_wait(cc->c, cc->fd, POLLIN, deadline) != 1)
			return control_fail(cc, "timeout");
		n = recv(cc->fd, buf + len, size - 1 - len, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n <= 0)
			return -1;
		len += (size_t)n;
		if ((rc = control_line_check(cc, buf, len)) != 0)
			return rc < 0 ? -1 : 0;
	}
}

/* ---- connections --------------------------------------------------------- */

static bool
control_peer_in_group(int fd, gid_t gid)
{
#ifdef SO_PEERGROUPS
	gid_t groups[CONTROL_GROUPS_MAX];
	socklen_t len = sizeof(groups);

	/* ERANGE (more groups than we look at) counts as "not a member". */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == gid)
			return true;
#else
	(void)fd;
	(void)gid;
#endif
	return false;
}

/* The file mode let the peer in; check who it is (the mode may have been
 * loosened, or the directory may be reachable by others). */
static bool
control_peer_allowed(struct control_conn *cc)
{
	socklen_t len = sizeof(cc->cred);

	if (getsockopt(cc->fd, SOL_SOCKET, SO_PEERCRED, &cc->cred, &len) < 0)
		return false;
	return cc->cred.uid == 0 || cc->cred.uid == geteuid() || cc->cred.gid == cc->c->gid ||
	    control_peer_in_group(cc->fd, cc->c->gid);
}

static void
control_req_log(const struct control_conn *cc, const struct control_req *r, int rc)
{
	char why[CONTROL_WHY_MAX + 8];
	enum log_level lvl = r->cmd->changes ? LOG_INFO : LOG_DEBUG;

	const char *id = r->id[0] != '\0' ? r->id : r->cmd->arg == CONTROL_ARG_OPT_ID ? "all" : "-";
	char tenant[32];

	if (r->cmd->arg == CONTROL_ARG_TENANT) {
		snprintf(tenant, sizeof(tenant), "tenant:%lld", r->tenant);
		id = tenant;
	}

	log_quote(why, sizeof(why), cc->why, strlen(cc->why));
	log_msg(lvl, "event=queue-%s id=%s uid=%u pid=%d result=%s%s%s", r->cmd->name, id,
	    (unsigned)cc->cred.uid, (int)cc->cred.pid, rc == 0 ? "ok" : "error",
	    rc == 0 ? "" : " reason=", rc == 0 ? "" : why);
}

static void
control_conn_serve(struct control_conn *cc)
{
	char line[CONTROL_LINE_MAX + 1];
	struct control_req r;
	int rc;

	/* Read before refusing: closing on unread data could lose the reply. */
	if (control_line_read(cc, line, sizeof(line)) < 0) {
		if (cc->why[0] != '\0')
			control_reply_end(cc, -1);
		return;
	}
	if (!control_peer_allowed(cc)) {
		log_warn("event=control-denied uid=%u gid=%u pid=%d", (unsigned)cc->cred.uid,
		    (unsigned)cc->cred.gid, (int)cc->cred.pid);
		control_fail(cc, "permission denied");
		control_reply_end(cc, -1);
		return;
	}
	if (control_req_parse(cc, line, &r) < 0) {
		log_debug("event=control-bad-request uid=%u reason=\"%s\"", (unsigned)cc->cred.uid, cc->why);
		control_reply_end(cc, -1);
		return;
	}
	rc = r.cmd->run(cc, &r);
	control_req_log(cc, &r, rc);
	control_reply_end(cc, rc);
}

static void
control_accept(struct control *c)
{
	struct control_conn *cc;
	struct pollfd stop = { c->stop[0], POLLIN, 0 };
	int fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			log_warn("event=control-accept-failed error=\"%s\"", strerror(errno));
			poll(&stop, 1, 100);   /* the socket stays readable: do not spin */
		}
		return;
	}
	cc = xcalloc(1, sizeof(*cc));
	cc->c = c;
	cc->fd = fd;
	control_conn_serve(cc);
	close(fd);
	free(cc);
}

static void *
control_main(void *arg)
{
	struct control *c = arg;
	struct pollfd pfd[2] = { { c->fd, POLLIN, 0 }, { c->stop[0], POLLIN, 0 } };

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("event=control-poll-failed error=\"%s\"", strerror(errno));
			return NULL;
		}
		if (pfd[1].revents != 0)
			return NULL;
		if (pfd[0].revents != 0)
			control_accept(c);
	}
}

/* ---- the socket -------------------------------------------------------------- */

static void
control_free(struct control *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->stop[0] >= 0)
		close(c->stop[0]);
	if (c->stop[1] >= 0)
		close(c->stop[1]);
	free(c->path);
	free(c);
}

/* A socket left by a previous run goes; anything else at path is refused. */
static int
control_stale_remove(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "control socket %s exists and is not a socket", path);
		return -1;
	}
	if (unlink(path) < 0) {
		snprintf(err, errlen, "control socket %s: cannot remove the old one: %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* Bind and set mode and owner without following a link someone may have
 * put at path; remember which file is ours. Returns 0 or -1 with errno. */
static int
control_bind(struct control *c, uid_t uid, gid_t gid)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;

	memcpy(sun.sun_path, c->path, strlen(c->path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	/* Linux gives the socket file this mode (less the umask) at bind: it
	 * is never more open than 0660, even before the chmod below. */
	(void)fchmod(c->fd, 0660);
	if (bind(c->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return -1;
	c->bound = true;
	if (fchmodat(AT_FDCWD, c->path, 0660, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    fchownat(AT_FDCWD, c->path, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if (lstat(c->path, &st) < 0)
		return -1;
	if (!S_ISSOCK(st.st_mode))
		return errno = EEXIST, -1;
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	return listen(c->fd, 16);
}

struct control *
control_open(const char *path, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct control *c;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control socket path %s is too long (max %zu octets)", path,
		    sizeof(sun.sun_path) - 1);
		return NULL;
	}
	if (control_stale_remove(path, err, errlen) < 0)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->fd = c->stop[0] = c->stop[1] = -1;
	c->path = xstrdup(path);
	c->gid = gid != (gid_t)-1 ? gid : getegid();
	if (pipe2(c->stop, O_CLOEXEC | O_NONBLOCK) < 0 || control_bind(c, uid, gid) < 0) {
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		if (c->bound)
			unlink(path);
		control_free(c);
		return NULL;
	}
	return c;
}

int
control_start(struct control *c, struct qmgr *q)
{
	c->q = q;
	if (pthread_create(&c->thread, NULL, control_main, c) != 0)
		return -1;
	c->running = true;
	return 0;
}

/* Remove the socket file if it is still the one we bound (a new ferryd may
 * already have replaced it). After the privilege drop this needs write
 * access to its directory; a socket left behind is removed at next start. */
static void
control_unlink(const struct control *c)
{
	struct stat st;

	if (lstat(c->path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == c->dev &&
	    st.st_ino == c->ino && unlink(c->path) < 0)
		log_debug("event=control-unlink-failed path=%s error=\"%s\"", c->path, strerror(errno));
}

void
control_stop(struct control *c)
{
	if (c == NULL)
		return;
	if (c->running) {
		if (write(c->stop[1], "x", 1) != 1)
			log_error("event=control-stop-failed error=\"%s\"", strerror(errno));
		else
			pthread_join(c->thread, NULL);
	}
	control_unlink(c);
	control_free(c);
}
