/*
 * control.c - the control socket: how ferryctl steers the queue manager.
 * One thread accepts connections and serves them one at a time; each
 * carries one request line and gets data lines, then "OK" or "ERR reason".
 * This file reads and checks requests and writes replies; what each
 * request does is in control_cmd.c.
 *
 * Protocol (every line ends in LF; a request is at most CONTROL_LINE_MAX
 * octets and must arrive within CONTROL_TIMEOUT_MS):
 *   request = command [SP id] LF | "summary" LF | "metrics" LF
 *           | ("release-tenant" | "suspend-tenant" | "resume-tenant") SP tenant LF
 *           | ("suspend-site" | "resume-site") SP site LF
 *   command = "list" | "show" | "hold" | "release" | "delete" | "requeue"
 *           | "flush"                       (flush: id optional, else all)
 *   id      = 16 uppercase hex digits (spool_id.c)
 *   tenant  = 1*18 DIGIT, not 0             (a tenant id of the state database)
 *   site    = 1*255 (ALPHA / DIGIT / "." / "-" / "_" / ":" / "[" / "]" / "," / "/")
 *             a domain, an MX host or a site as the summary names it
 *   reply   = *data-line ("OK" | "ERR" SP reason) LF
 * For list and show, per message (fields separated by one TAB):
 *   "msg" id state size arrival next-try attempts sender
 *   "error" text                 the last error, only when there is one
 *   "rcpt" address               once per recipient still to deliver
 * For release-tenant (every held message of the tenant back to the queue,
 * sent by `ferryctl tenant resume`): "released" TAB count.
 * For summary, one line per row of qmgr_summary (control_summary.c):
 *   kind name source ready scheduled active held conns-open conns-busy
 *   limit suspended shaping
 * kind "site" (name the site, source the source address, "" the system's
 * choice), "domain" or "tenant" (name the tenant id, "0" for mail of no
 * tenant); the counts are decimal (never negative); suspended "0" or "1";
 * shaping "" or what traffic shaping holds in force. A name or shaping
 * text past 1024 octets (a source past 128) is cut and ends in "...".
 * For metrics (ferryctl metrics): the Prometheus text of GET /metrics,
 * one data line per line of it (src/metrics/metrics_render.c).
 * suspend-* and resume-* (ferryctl queue suspend|resume) stop or restart
 * delivery (qmgr_suspend) and answer OK or ERR only; resuming what is not
 * suspended is an ERR.
 * Times are unix seconds (0: none); sender "" is the null sender <>;
 * control characters in any field (TAB included) are sent as '?'.
 *
 * SECURITY: the socket is mode 0660, owned by the run user and its group,
 * and each peer is checked again with SO_PEERCRED/SO_PEERGROUPS: root, the
 * run user and members of the socket's group only. A request is parsed
 * strictly; a queue id, site name or tenant id is checked against its
 * syntax before the queue manager sees it, and nothing from a request is
 * used as a path or passed to a shell. A peer is served only for CONTROL_TIMEOUT_MS per read or write.
 */
#include "control/control.h"

#include <errno.h>
#include <fcntl.h>
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

#include "control/control_internal.h"
#include "queue/qmgr.h"
#include "spool/spool.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define CONTROL_LINE_MAX   1024   /* a request line, LF included */
#define CONTROL_TIMEOUT_MS 5000   /* to send the request; per reply flush */
#define CONTROL_GROUPS_MAX 256    /* supplementary groups of a peer looked at */

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

int
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

void
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

void
control_puts(struct control_conn *cc, const char *s)
{
	control_out(cc, s, strlen(s));
}

/* Control characters (TAB, CR, LF...) would break the framing. */
void
control_field(struct control_conn *cc, const char *s)
{
	char ch;

	for (; *s != '\0' && !cc->failed; s++) {
		ch = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
		control_out(cc, &ch, 1);
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

/* ---- requests -------------------------------------------------------------- */

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

/* "release-tenant ID" and the like: a positive decimal of at most 18 digits. */
static int
control_tenant_parse(struct control_conn *cc, struct control_req *r, char **w, int n)
{
	if (n != 2)
		return control_fail(cc, "%s takes one tenant id", r->cmd->name);
	if (!control_tenant_id_parse(w[1], &r->tenant))
		return control_fail(cc, "invalid tenant id");
	return 0;
}

/* "suspend-site NAME": checked here so the queue manager and the log see
 * only names of the site syntax. */
static int
control_site_parse(struct control_conn *cc, struct control_req *r, char **w, int n)
{
	if (n != 2)
		return control_fail(cc, "%s takes one site name", r->cmd->name);
	if (!control_site_name_valid(w[1]))
		return control_fail(cc, "invalid site name");
	memcpy(r->site, w[1], strlen(w[1]) + 1);
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
	r->site[0] = '\0';
	if (r->cmd->arg == CONTROL_ARG_TENANT)
		return control_tenant_parse(cc, r, w, n);
	if (r->cmd->arg == CONTROL_ARG_SITE)
		return control_site_parse(cc, r, w, n);
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
	char what[CONTROL_SITE_NAME_MAX + 8];

	/* The site's syntax (control_site_name_valid) needs no quoting. */
	if (r->cmd->arg == CONTROL_ARG_TENANT || r->cmd->arg == CONTROL_ARG_SITE) {
		if (r->cmd->arg == CONTROL_ARG_TENANT)
			snprintf(what, sizeof(what), "tenant:%lld", r->tenant);
		else
			snprintf(what, sizeof(what), "site:%s", r->site);
		id = what;
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
