/*
 * ctl_queue.c - `ferryctl queue list|show|hold|release|delete|requeue|flush`:
 * one request over ferryd's control socket (protocol in src/control/control.c),
 * the reply printed like mailq(1) for list and as fields for show. summary,
 * suspend and resume are in ctl_queue_summary.c.
 * SECURITY: ferryd decides who may ask (file mode and SO_PEERCRED). Its
 * reply is parsed strictly: a line with control characters or the wrong
 * fields ends the command with an error and is never printed.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control/control_summary.h"
#include "ferryctl/ctl.h"
#include "spool/spool.h"

#define CTL_QUEUE_LINE_MAX 8192   /* a reply line: an address or error text */
#define CTL_QUEUE_TIMEOUT  60     /* seconds ferryd may be silent mid-reply */
#define CTL_QUEUE_INDENT   48     /* the Sender/Recipient column of list */

const char ctl_queue_usage[] =
    "  queue list [--held]                   the queue, like mailq (! held, * in delivery);\n"
    "                                        --held: only held messages, with why\n"
    "  queue show ID                         one message: state, times, last error\n"
    "  queue hold ID                         keep a message from delivery\n"
    "  queue release ID                      deliver a held message now\n"
    "  queue flush [ID]                      retry deferred messages (or one) now\n"
    "  queue requeue ID                      retry now and forget the backoff\n"
    "  queue delete ID                       remove a message, no bounce sent\n"
    "  queue summary                         queued mail by site, domain and tenant (like qshape)\n"
    "  queue suspend site NAME|tenant NAME   stop delivery to a destination or of a tenant's mail\n"
    "  queue resume site NAME|tenant NAME    deliver it again\n";

enum ctl_queue_arg { CTL_QUEUE_NO_ID, CTL_QUEUE_ID, CTL_QUEUE_OPT_ID };

static const char *const ctl_queue_arg_text[] = {
	"no operand", "one queue ID", "at most one queue ID",
};

struct ctl_queue_cmd {
	const char        *name;
	enum ctl_queue_arg arg;
	const char        *done;     /* printed after OK; NULL: the reply is data */
};

static const struct ctl_queue_cmd ctl_queue_cmds[] = {
	{ "list",    CTL_QUEUE_NO_ID,  NULL },
	{ "show",    CTL_QUEUE_ID,     NULL },
	{ "hold",    CTL_QUEUE_ID,     "placed on hold" },
	{ "release", CTL_QUEUE_ID,     "released, delivery starts now" },
	{ "delete",  CTL_QUEUE_ID,     "deleted" },
	{ "requeue", CTL_QUEUE_ID,     "backoff forgotten, delivery starts now" },
	{ "flush",   CTL_QUEUE_OPT_ID, "delivery starts now" },
};

/* One "msg" line of the reply. Strings point into the line read. */
struct ctl_queue_view {
	const char *id, *state, *sender;
	uint64_t    size;
	long long   arrival, next_try, attempts;
};

/* The reply being printed. */
struct ctl_queue_out {
	const struct ctl_queue_cmd *cmd;
	const char                 *id;      /* the request's, or NULL */
	size_t                      nmsgs;
	uint64_t                    bytes;
};

/* ---- printing ---------------------------------------------------------------- */

static const char *
ctl_queue_time(long long t, const char *fmt, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL || strftime(buf, size, fmt, &tm) == 0)
		snprintf(buf, size, "%lld", t);
	return buf;
}

static char
ctl_queue_flag(const char *state)
{
	if (strcmp(state, "hold") == 0)
		return '!';
	return strcmp(state, "active") == 0 ? '*' : ' ';
}

static void
ctl_queue_list_msg(struct ctl_queue_out *o, const struct ctl_queue_view *v)
{
	char when[64];

	if (o->nmsgs == 0)
		printf("-Queue ID-------- --Size-- ----Arrival Time---  -Sender/Recipient-------\n");
	else
		printf("\n");
	printf("%-16s%c %8" PRIu64 " %-19s  %s\n", v->id, ctl_queue_flag(v->state), v->size,
	    ctl_queue_time(v->arrival, "%a %b %e %H:%M:%S", when, sizeof(when)),
	    v->sender[0] != '\0' ? v->sender : "<>");
}

static void
ctl_queue_show_msg(const struct ctl_queue_view *v)
{
	char when[64];

	printf("id:          %s\n", v->id);
	printf("state:       %s", v->state);
	if (v->next_try != 0)
		printf(", next attempt %s",
		    ctl_queue_time(v->next_try, "%Y-%m-%d %H:%M:%S %z", when, sizeof(when)));
	printf("\narrival:     %s\n", ctl_queue_time(v->arrival, "%Y-%m-%d %H:%M:%S %z", when,
	    sizeof(when)));
	printf("size:        %" PRIu64 " bytes\n", v->size);
	printf("attempts:    %lld\n", v->attempts);
	printf("sender:      %s\n", v->sender[0] != '\0' ? v->sender : "<>");
}

static void
ctl_queue_list_end(const struct ctl_queue_out *o)
{
	if (o->nmsgs == 0)
		printf("queue is empty\n");
	else
		printf("\n-- %zu message%s, %" PRIu64 " KiB\n", o->nmsgs, o->nmsgs == 1 ? "" : "s",
		    (o->bytes + 1023) / 1024);
}

static void
ctl_queue_done(const struct ctl_queue_out *o)
{
	if (o->cmd->done == NULL && o->cmd->arg == CTL_QUEUE_NO_ID)
		ctl_queue_list_end(o);
	else if (o->cmd->done != NULL)
		printf("%s: %s\n", o->id != NULL ? o->id : "deferred messages", o->cmd->done);
}

/* ---- the reply --------------------------------------------------------------- */

static bool
ctl_queue_num(const char *s, long long min, long long *out)
{
	char *end;

	errno = 0;
	if (!isdigit((unsigned char)*s))
		return false;
	*out = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0' && *out >= min;
}

/* "msg" id state size arrival next-try attempts sender */
static bool
ctl_queue_view_parse(char *line, struct ctl_queue_view *v)
{
	char *f[8];
	long long size;

	if (!control_line_fields(line, f, 8) || strlen(f[1]) != SPOOL_ID_LEN || f[2][0] == '\0')
		return false;
	v->id = f[1];
	v->state = f[2];
	v->sender = f[7];
	if (!ctl_queue_num(f[3], 0, &size) || !ctl_queue_num(f[4], 0, &v->arrival) ||
	    !ctl_queue_num(f[5], 0, &v->next_try) || !ctl_queue_num(f[6], 0, &v->attempts))
		return false;
	v->size = (uint64_t)size;
	return true;
}

/* A data line (a ctl_queue_line_fn); returns false when it is malformed. */
static bool
ctl_queue_data(void *arg, char *line)
{
	struct ctl_queue_out *o = arg;
	struct ctl_queue_view v;
	char *f[2];
	bool show = o->cmd->arg == CTL_QUEUE_ID;

	if (strncmp(line, "msg\t", 4) == 0) {
		if (!ctl_queue_view_parse(line, &v))
			return false;
		if (show)
			ctl_queue_show_msg(&v);
		else
			ctl_queue_list_msg(o, &v);
		o->nmsgs++;
		o->bytes += v.size;
		return true;
	}
	if (show && o->nmsgs > 0 && (strncmp(line, "env\t", 4) == 0 || strncmp(line, "done\t", 5) == 0)) {
		char *g[3];
		if (!control_line_fields(line, g, 3))
			return false;
		if (g[0][0] == 'e') {
			char key[64];
			snprintf(key, sizeof(key), "%s:", g[1]);
			printf("%-12s %s\n", key, g[2]);
		} else
			printf("recipient:   %s (%s)\n", g[1], g[2]);
		return true;
	}
	if (o->nmsgs == 0 || !control_line_fields(line, f, 2))
		return false;
	if (strcmp(f[0], "error") == 0 && show)
		printf("last error:  %s\n", f[1]);
	else if (strcmp(f[0], "error") == 0)
		printf("(%s)\n", f[1]);
	else if (strcmp(f[0], "rcpt") == 0 && show)
		printf("recipient:   %s\n", f[1]);
	else if (strcmp(f[0], "rcpt") == 0)
		printf("%*s%s\n", CTL_QUEUE_INDENT, "", f[1]);
	else
		return false;
	return true;
}

/* Printable octets (UTF-8 welcome) and TABs only. */
static bool
ctl_queue_line_clean(const char *s)
{
	for (; *s != '\0'; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return false;
	return true;
}

static int
ctl_queue_err(const char *label, const char *what)
{
	ctl_warn("%s: %s", label, what);
	return CTL_EXIT_ERR;
}

/* Read the reply to its last line; returns the exit code. */
static int
ctl_queue_reply(FILE *f, const char *label, ctl_queue_line_fn fn, void *arg)
{
	char line[CTL_QUEUE_LINE_MAX];
	char *nl;

	while (fgets(line, sizeof(line), f) != NULL) {
		if ((nl = strchr(line, '\n')) == NULL)
			return ctl_queue_err(label, "malformed reply from ferryd (line too long)");
		*nl = '\0';
		if (!ctl_queue_line_clean(line))
			return ctl_queue_err(label, "malformed reply from ferryd");
		if (strcmp(line, "OK") == 0)
			return CTL_EXIT_OK;
		if (strncmp(line, "ERR ", 4) == 0)
			return ctl_queue_err(label, line + 4);
		if (fn == NULL || !fn(arg, line))
			return ctl_queue_err(label, "malformed reply from ferryd");
	}
	if (ferror(f) && (errno == EAGAIN || errno == EWOULDBLOCK))
		return ctl_queue_err(label, "ferryd did not answer in time");
	return ctl_queue_err(label, "ferryd closed the connection before answering");
}

/* ---- the request ----------------------------------------------------------- */

int
ctl_queue_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = CTL_QUEUE_TIMEOUT };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		ctl_warn("control socket path %s is too long", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		ctl_warn("socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0)
		return fd;
	if (errno == ENOENT || errno == ECONNREFUSED)
		ctl_warn("cannot reach ferryd at %s: %s (is ferryd running?)", path, strerror(errno));
	else if (errno == EACCES || errno == EPERM)
		ctl_warn("cannot reach ferryd at %s: %s (run as root, as ferryd's user or as a member "
		    "of its group)", path, strerror(errno));
	else
		ctl_warn("cannot reach ferryd at %s: %s", path, strerror(errno));
	close(fd);
	return -1;
}

int
ctl_queue_send(int fd, const char *req)
{
	size_t len = strlen(req), off = 0;
	ssize_t n;

	while (off < len) {
		n = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ctl_warn("cannot send the request to ferryd: %s", strerror(errno));
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

int
ctl_queue_ask(struct ctl *c, const char *req, const char *label, ctl_queue_line_fn fn, void *arg)
{
	FILE *f;
	int fd, rc;

	if (ctl_control_path(c) < 0 || (fd = ctl_queue_connect(c->control)) < 0)
		return CTL_EXIT_ERR;
	if (ctl_queue_send(fd, req) < 0) {
		close(fd);
		return CTL_EXIT_ERR;
	}
	if ((f = fdopen(fd, "r")) == NULL) {
		ctl_warn("fdopen: %s", strerror(errno));
		close(fd);
		return CTL_EXIT_ERR;
	}
	rc = ctl_queue_reply(f, label, fn, arg);
	fclose(f);
	return rc;
}

/* Send "command [id]" and print the reply; returns the exit code. */
static int
ctl_queue_request(struct ctl *c, struct ctl_queue_out *o)
{
	char req[64], label[64];
	int rc;

	snprintf(req, sizeof(req), "%s%s%s\n", o->cmd->name, o->id ? " " : "", o->id ? o->id : "");
	snprintf(label, sizeof(label), "queue %s%s%s", o->cmd->name, o->id ? " " : "",
	    o->id ? o->id : "");
	/* Actions answer OK or ERR only: a data line is malformed. */
	rc = ctl_queue_ask(c, req, label, o->cmd->done == NULL ? ctl_queue_data : NULL, o);
	if (rc != CTL_EXIT_OK)
		return rc;
	ctl_queue_done(o);
	return fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_ERR;
}

/* ---- arguments ----------------------------------------------------------------- */

int
ctl_queue_usage_error(void)
{
	fputs("usage:\n", stderr);
	fputs(ctl_queue_usage, stderr);
	return CTL_EXIT_USAGE;
}

static const struct ctl_queue_cmd *
ctl_queue_cmd_find(const char *name)
{
	for (size_t i = 0; i < sizeof(ctl_queue_cmds) / sizeof(ctl_queue_cmds[0]); i++)
		if (strcmp(ctl_queue_cmds[i].name, name) == 0)
			return &ctl_queue_cmds[i];
	return NULL;
}

/* A queue id as printed by list (16 hex digits; lowercase accepted). */
static bool
ctl_queue_id_norm(const char *arg, char id[SPOOL_ID_LEN + 1])
{
	if (strlen(arg) != SPOOL_ID_LEN)
		return false;
	for (size_t i = 0; i < SPOOL_ID_LEN; i++) {
		if (!isxdigit((unsigned char)arg[i]))
			return false;
		id[i] = (char)toupper((unsigned char)arg[i]);
	}
	id[SPOOL_ID_LEN] = '\0';
	return true;
}

int
ctl_queue_main(struct ctl *c, int argc, char **argv)
{
	struct ctl_queue_out o = { 0 };
	char id[SPOOL_ID_LEN + 1];
	int nargs;

	if (argc < 2) {
		ctl_warn("queue needs a subcommand");
		return ctl_queue_usage_error();
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(ctl_queue_usage, stdout);
		return CTL_EXIT_OK;
	}
	if (strcmp(argv[1], "summary") == 0)
		return ctl_queue_summary(c, argc - 1, argv + 1);
	if (strcmp(argv[1], "suspend") == 0 || strcmp(argv[1], "resume") == 0)
		return ctl_queue_suspend(c, argc - 1, argv + 1);
	if ((o.cmd = ctl_queue_cmd_find(argv[1])) == NULL) {
		ctl_warn("unknown subcommand queue %s", argv[1]);
		return ctl_queue_usage_error();
	}
	nargs = argc - 2;
	if (nargs == 1 && strcmp(o.cmd->name, "list") == 0 && strcmp(argv[2], "--held") == 0)
		return ctl_queue_held_list(c);
	if (nargs > (o.cmd->arg == CTL_QUEUE_NO_ID ? 0 : 1) ||
	    (nargs == 0 && o.cmd->arg == CTL_QUEUE_ID)) {
		ctl_warn("queue %s takes %s", o.cmd->name, ctl_queue_arg_text[o.cmd->arg]);
		return ctl_queue_usage_error();
	}
	if (nargs == 1 && !ctl_queue_id_norm(argv[2], id)) {
		ctl_warn("invalid queue ID %s: 16 hexadecimal digits, as `ferryctl queue list` shows them",
		    argv[2]);
		return CTL_EXIT_ERR;
	}
	o.id = nargs == 1 ? id : NULL;
	return ctl_queue_request(c, &o);
}
