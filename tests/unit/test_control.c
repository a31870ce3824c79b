/* test_control.c - the control socket through its public API: a real
 * socket in a temporary spool, a queue manager without delivery threads,
 * requests as ferryctl sends them and as a careless or hostile peer might. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "control/control.h"
#include "control/control_summary.h"
#include "delivery/deliver.h"
#include "queue/qmgr.h"
#include "spool/spool.h"
#include "spool_wait.h"

struct fixture {
	char            dir[64];
	char            sock[100];
	struct spool   *spool;
	struct qmgr    *qmgr;
	struct control *ctl;
	char            id[SPOOL_ID_LEN + 1];   /* the one queued message */
};

/* The tenant record of the fixture's message, or NULL for none. */
static const char *fixture_tenant;

/* One durable message in queue/; a TAB in the sender tests the framing. */
static void
message_queue(struct fixture *f)
{
	struct spool_msg *m = spool_msg_create(f->spool, f->id);

	assert_non_null(m);
	assert_int_equal(spool_rec_str(m, SPOOL_REC_TIME, "1700000000"), 0);
	assert_int_equal(spool_rec_str(m, SPOOL_REC_SENDER, "al\tice@example.test"), 0);
	assert_int_equal(spool_rec_str(m, SPOOL_REC_RCPT, "x@remote.test"), 0);
	assert_int_equal(spool_rec_str(m, SPOOL_REC_RCPT, "y@remote.test"), 0);
	if (fixture_tenant != NULL)
		assert_int_equal(spool_rec_str(m, SPOOL_REC_TENANT, fixture_tenant), 0);
	assert_int_equal(spool_msg_content_begin(m), 0);
	assert_int_equal(spool_msg_write(m, "Subject: t\r\n\r\nbody\r\n", 20), 0);
	spool_wait_commit(m);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	snprintf(f->dir, sizeof(f->dir), "/tmp/ferry-test-ctl-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/control.sock", f->dir);
	f->spool = spool_open(f->dir, (uid_t)-1, (gid_t)-1, false, err, sizeof(err));
	assert_non_null(f->spool);
	assert_int_equal(spool_committer_start(f->spool), 0);
	message_queue(f);
	f->qmgr = qmgr_new(&(struct deliver_handles){ .spool = f->spool });
	assert_int_equal(qmgr_load(f->qmgr), 1);    /* no qmgr_start: it stays "ready" */
	f->ctl = control_open(f->sock, (uid_t)-1, (gid_t)-1, err, sizeof(err));
	assert_non_null(f->ctl);
	assert_int_equal(control_start(f->ctl, f->qmgr), 0);
	*state = f;
	return 0;
}

/* The same with a message sent as tenant 7. */
static int
setup_tenant(void **state)
{
	fixture_tenant = "7";
	setup(state);
	fixture_tenant = NULL;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	control_stop(f->ctl);
	qmgr_free(f->qmgr);
	spool_committer_stop(f->spool);
	spool_close(f->spool);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static int
sock_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

static char *
sock_read_all(int fd)
{
	static char buf[65536];
	size_t len = 0;
	ssize_t n;

	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	return buf;
}

/* Send len octets of req, then read the whole reply (valid until the next
 * call). */
static char *
ask_n(const struct fixture *f, const char *req, size_t len)
{
	int fd = sock_connect(f->sock);
	char *reply;

	assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
	reply = sock_read_all(fd);
	close(fd);
	return reply;
}

static char *
ask(const struct fixture *f, const char *req)
{
	return ask_n(f, req, strlen(req));
}

static bool
file_in(const struct fixture *f, const char *sub)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s/%s", f->dir, sub, f->id);
	return access(path, F_OK) == 0;
}

static void
test_list(void **state)
{
	struct fixture *f = *state;
	char want[256];

	snprintf(want, sizeof(want), "msg\t%s\tready\t20\t1700000000\t0\t0\tal?ice@example.test\n"
	    "rcpt\tx@remote.test\nrcpt\ty@remote.test\nOK\n", f->id);
	assert_string_equal(ask(f, "list\n"), want);
	assert_string_equal(ask(f, "  list  \r\n"), want);   /* spaces and CR LF tolerated */
}

static void
test_show_hold_release_delete(void **state)
{
	struct fixture *f = *state;
	char req[64], want[64];

	snprintf(req, sizeof(req), "hold %s\n", f->id);
	assert_string_equal(ask(f, req), "OK\n");
	assert_true(file_in(f, "hold"));
	assert_false(file_in(f, "queue"));
	assert_string_equal(ask(f, req), "ERR message is already held\n");
	snprintf(req, sizeof(req), "show %s\n", f->id);
	snprintf(want, sizeof(want), "msg\t%s\thold\t", f->id);
	assert_non_null(strstr(ask(f, req), want));
	snprintf(req, sizeof(req), "flush %s\n", f->id);
	assert_string_equal(ask(f, req), "ERR message is held: release it first\n");
	snprintf(req, sizeof(req), "release %s\n", f->id);
	assert_string_equal(ask(f, req), "OK\n");
	assert_true(file_in(f, "queue"));
	assert_string_equal(ask(f, req), "ERR message is not held (it is ready)\n");
	snprintf(req, sizeof(req), "requeue %s\n", f->id);
	assert_string_equal(ask(f, req), "OK\n");
	assert_string_equal(ask(f, "flush\n"), "OK\n");
	snprintf(req, sizeof(req), "delete %s\n", f->id);
	assert_string_equal(ask(f, req), "OK\n");
	assert_false(file_in(f, "queue"));
	assert_string_equal(ask(f, req), "ERR no such message\n");
	assert_string_equal(ask(f, "list\n"), "OK\n");
}

/* release-tenant: only messages of that tenant held for its suspension go
 * back to the queue; one the operator held stays held (those held for a
 * suspension, by a delivery attempt, are in test_delivery_review.py). */
static void
test_release_tenant(void **state)
{
	struct fixture *f = *state;
	char req[64];

	assert_string_equal(ask(f, "release-tenant 7\n"), "released\t0\nOK\n");   /* not held */
	snprintf(req, sizeof(req), "hold %s\n", f->id);
	assert_string_equal(ask(f, req), "OK\n");
	assert_string_equal(ask(f, "release-tenant 8\n"), "released\t0\nOK\n");   /* another tenant */
	assert_true(file_in(f, "hold"));
	assert_string_equal(ask(f, "release-tenant 7\n"), "released\t0\nOK\n");   /* the operator's hold */
	assert_true(file_in(f, "hold"));
	snprintf(req, sizeof(req), "release %s\n", f->id);
	assert_string_equal(ask(f, req), "OK\n");
	assert_true(file_in(f, "queue"));
	assert_string_equal(ask(f, "release-tenant 7\n"), "released\t0\nOK\n");
}

static void
test_release_tenant_bad(void **state)
{
	struct fixture *f = *state;
	char req[64];

	snprintf(req, sizeof(req), "hold %s\n", f->id);
	assert_string_equal(ask(f, req), "OK\n");
	assert_string_equal(ask(f, "release-tenant 7\n"), "released\t0\nOK\n");  /* no tenant record */
	assert_true(file_in(f, "hold"));
	assert_string_equal(ask(f, "release-tenant\n"), "ERR release-tenant takes one tenant id\n");
	assert_string_equal(ask(f, "release-tenant 1 2\n"), "ERR release-tenant takes one tenant id\n");
	assert_string_equal(ask(f, "release-tenant 0\n"), "ERR invalid tenant id\n");
	assert_string_equal(ask(f, "release-tenant -1\n"), "ERR invalid tenant id\n");
	assert_string_equal(ask(f, "release-tenant 7x\n"), "ERR invalid tenant id\n");
	assert_string_equal(ask(f, "release-tenant 1234567890123456789\n"), "ERR invalid tenant id\n");
}

/* suspend/resume of a site or a tenant: operands checked before the queue
 * manager sees them. Resuming what was never suspended is refused, which
 * also shows the name reached qmgr_suspend whole. */
static void
test_suspend_requests(void **state)
{
	struct fixture *f = *state;
	char name[300], req[400], want[400];

	assert_string_equal(ask(f, "resume-site example.net\n"), "ERR site example.net is not suspended\n");
	assert_string_equal(ask(f, "resume-site mx1.example.net,mx2.example.net\n"),
	    "ERR site mx1.example.net,mx2.example.net is not suspended\n");
	assert_string_equal(ask(f, "resume-site smtp:relay.example.net:587\n"),
	    "ERR site smtp:relay.example.net:587 is not suspended\n");
	assert_string_equal(ask(f, "resume-site lmtp:/run/dovecot/lmtp\n"),
	    "ERR site lmtp:/run/dovecot/lmtp is not suspended\n");
	assert_string_equal(ask(f, "resume-site [192.0.2.1]\n"), "ERR site [192.0.2.1] is not suspended\n");
	assert_string_equal(ask(f, "resume-site Under_Score-1\n"),
	    "ERR site Under_Score-1 is not suspended\n");
	assert_string_equal(ask(f, "resume-tenant 7\n"), "ERR tenant 7 is not suspended\n");
	assert_string_equal(ask(f, "resume-tenant 000000000000000007\n"), "ERR tenant 7 is not suspended\n");
	memset(name, 'a', 255);
	name[255] = '\0';
	snprintf(req, sizeof(req), "resume-site %s\n", name);
	snprintf(want, sizeof(want), "ERR site %s is not suspended\n", name);
	assert_string_equal(ask(f, req), want);                 /* 255 octets: the longest */
	snprintf(req, sizeof(req), "suspend-site a%s\n", name);
	assert_string_equal(ask(f, req), "ERR invalid site name\n");
	assert_string_equal(ask(f, "suspend-site\n"), "ERR suspend-site takes one site name\n");
	assert_string_equal(ask(f, "resume-site a b\n"), "ERR resume-site takes one site name\n");
	assert_string_equal(ask(f, "suspend-site ../x;rm\n"), "ERR invalid site name\n");
	assert_string_equal(ask(f, "suspend-site a@b\n"), "ERR invalid site name\n");
	assert_string_equal(ask(f, "suspend-site caf\xc3\xa9.example\n"), "ERR invalid site name\n");
	assert_string_equal(ask(f, "suspend-site a\tb\n"), "ERR control character in request\n");
	assert_string_equal(ask(f, "suspend-tenant\n"), "ERR suspend-tenant takes one tenant id\n");
	assert_string_equal(ask(f, "resume-tenant 1 2\n"), "ERR resume-tenant takes one tenant id\n");
	assert_string_equal(ask(f, "suspend-tenant 0\n"), "ERR invalid tenant id\n");
	assert_string_equal(ask(f, "suspend-tenant acme\n"), "ERR invalid tenant id\n");
	assert_string_equal(ask(f, "suspend-tenant -3\n"), "ERR invalid tenant id\n");
	assert_string_equal(ask(f, "suspend-tenant 1234567890123456789\n"), "ERR invalid tenant id\n");
	assert_string_equal(ask(f, "SUMMARY\n"), "ERR unknown command\n");
	assert_string_equal(ask(f, "summary all\n"), "ERR summary takes no argument\n");
}

/* Whatever the queue manager has to say, every line of the reply is a
 * well-formed row and the reply ends in OK. */
static void
test_summary_request(void **state)
{
	struct fixture *f = *state;
	struct qmgr_summary_row row;
	char *reply = ask(f, "summary\n"), *line, *nl;
	size_t len = strlen(reply);

	assert_true(len >= 3);
	assert_string_equal(reply + len - 3, "OK\n");
	reply[len - 3] = '\0';
	for (line = reply; *line != '\0'; line = nl + 1) {
		assert_non_null(nl = strchr(line, '\n'));
		*nl = '\0';
		assert_int_equal(control_summary_parse(line, &row), 0);
	}
}

/* A row through the wire format and back: wire gets the line as sent
 * (without its LF), out the row parsed from line (split in place). */
static void
row_roundtrip(const struct qmgr_summary_row *in, struct qmgr_summary_row *out, char *line,
    char *wire)
{
	size_t len = control_summary_format(in, line, CONTROL_SUMMARY_LINE_MAX);

	assert_true(len > 0 && len < CONTROL_SUMMARY_LINE_MAX);
	assert_int_equal(strlen(line), len);
	assert_int_equal(line[len - 1], '\n');
	assert_null(memchr(line, '\n', len - 1));
	line[len - 1] = '\0';
	memcpy(wire, line, len);
	assert_int_equal(control_summary_parse(line, out), 0);
}

static void
test_summary_roundtrip(void **state)
{
	struct qmgr_summary_row in = { QMGR_ROW_SITE, "mx1.example.net,mx2.example.net", "192.0.2.10",
	    12, 40, 5, 0, 5, 4, 2, true, "connections=2 until=1733230000 rule=gmail-throttle" };
	struct qmgr_summary_row out;
	char line[CONTROL_SUMMARY_LINE_MAX], wire[CONTROL_SUMMARY_LINE_MAX], big[3000];

	(void)state;
	row_roundtrip(&in, &out, line, wire);
	assert_string_equal(wire, "site\tmx1.example.net,mx2.example.net\t192.0.2.10\t12\t40\t5\t0"
	    "\t5\t4\t2\t1\tconnections=2 until=1733230000 rule=gmail-throttle");
	assert_int_equal(out.kind, QMGR_ROW_SITE);
	assert_string_equal(out.name, in.name);
	assert_string_equal(out.source, in.source);
	assert_string_equal(out.shaping, in.shaping);
	assert_true(out.ready == 12 && out.scheduled == 40 && out.active == 5 && out.held == 0);
	assert_true(out.conns_open == 5 && out.conns_busy == 4 && out.limit == 2 && out.suspended);

	/* tenant row: no source, no shaping; control characters and negatives */
	in = (struct qmgr_summary_row){ QMGR_ROW_TENANT, "7", "", 1, -5, 0, 3, 0, 0, 0, false, "" };
	row_roundtrip(&in, &out, line, wire);
	assert_string_equal(wire, "tenant\t7\t\t1\t0\t0\t3\t0\t0\t0\t0\t");
	assert_true(out.kind == QMGR_ROW_TENANT && !out.suspended && out.held == 3);
	in = (struct qmgr_summary_row){ QMGR_ROW_DOMAIN, "ex\tam\nple.test", NULL, 0, 0, 0, 0, 0, 0,
	    0, false, "rate=\r5" };
	row_roundtrip(&in, &out, line, wire);
	assert_int_equal(out.kind, QMGR_ROW_DOMAIN);
	assert_string_equal(out.name, "ex?am?ple.test");
	assert_string_equal(out.shaping, "rate=?5");

	/* a name too long for a line is cut, visibly */
	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	in = (struct qmgr_summary_row){ QMGR_ROW_SITE, big, big, 0, 0, 0, 0, 0, 0, 0, false, big };
	row_roundtrip(&in, &out, line, wire);
	assert_int_equal(strlen(out.name), 1024);
	assert_string_equal(out.name + 1021, "...");
	assert_int_equal(strlen(out.shaping), 1024);
	assert_int_equal(strlen(out.source), 128);
}

static void
test_summary_parse_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"site",
		"site\tx\t\t1\t2\t3\t4\t5\t6\t7\t0",                 /* 11 fields */
		"site\tx\t\t1\t2\t3\t4\t5\t6\t7\t0\t\textra",        /* 13 fields */
		"queue\tx\t\t1\t2\t3\t4\t5\t6\t7\t0\t",             /* unknown kind */
		"Site\tx\t\t1\t2\t3\t4\t5\t6\t7\t0\t",
		"site\t\t\t1\t2\t3\t4\t5\t6\t7\t0\t",               /* empty name */
		"site\tx\t\t-1\t2\t3\t4\t5\t6\t7\t0\t",             /* negative */
		"site\tx\t\t1\t\t3\t4\t5\t6\t7\t0\t",               /* empty number */
		"site\tx\t\t1\t2\t3\t4\t5\t6\t7\t2\t",              /* suspended 2 */
		"site\tx\t\t1\t2\t3x\t4\t5\t6\t7\t0\t",
		"site\tx\t\t+1\t2\t3\t4\t5\t6\t7\t0\t",
		"site\tx\t\t1234567890123456789\t2\t3\t4\t5\t6\t7\t0\t",
		"site\tx\t\t1\t2\t3\t4\t2147483648\t6\t7\t0\t",     /* conns past INT_MAX */
	};
	struct qmgr_summary_row row;
	char line[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "%s", bad[i]);
		if (control_summary_parse(line, &row) == 0)
			fail_msg("parsed: %s", bad[i]);
	}
	snprintf(line, sizeof(line), "domain\tx\t\t1\t2\t3\t4\t2147483647\t6\t7\t0\t");
	assert_int_equal(control_summary_parse(line, &row), 0);
}

static void
test_site_name_valid(void **state)
{
	long long id;

	(void)state;
	assert_true(control_site_name_valid("example.net"));
	assert_true(control_site_name_valid("provider:gmail"));
	assert_true(control_site_name_valid("[IPv6:2001:db8::1]"));
	assert_false(control_site_name_valid(""));
	assert_false(control_site_name_valid("a b"));
	assert_false(control_site_name_valid("a\\b"));
	assert_false(control_site_name_valid("a*"));
	assert_true(control_tenant_id_parse("18", &id) && id == 18);
	assert_true(control_tenant_id_parse("999999999999999999", &id) && id == 999999999999999999LL);
	assert_false(control_tenant_id_parse("0", &id));
	assert_false(control_tenant_id_parse("", &id));
	assert_false(control_tenant_id_parse("1e3", &id));
	assert_false(control_tenant_id_parse(" 1", &id));
}

static void
test_unknown_id(void **state)
{
	struct fixture *f = *state;
	static const char *const cmds[] = { "show", "hold", "release", "delete", "requeue", "flush" };
	char req[64];

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		snprintf(req, sizeof(req), "%s 0000000000000000\n", cmds[i]);
		assert_string_equal(ask(f, req), "ERR no such message\n");
	}
}

static void
test_bad_requests(void **state)
{
	struct fixture *f = *state;
	char big[3000];

	assert_string_equal(ask(f, "\n"), "ERR empty request\n");
	assert_string_equal(ask(f, "frobnicate\n"), "ERR unknown command\n");
	assert_string_equal(ask(f, "LIST\n"), "ERR unknown command\n");
	assert_string_equal(ask(f, "hold\n"), "ERR hold takes one queue id\n");
	assert_string_equal(ask(f, "list all\n"), "ERR list takes no argument\n");
	assert_string_equal(ask(f, "flush 0000000000000000 x\n"), "ERR flush takes one queue id\n");
	assert_string_equal(ask(f, "hold 0000\n"), "ERR invalid queue id\n");
	assert_string_equal(ask(f, "hold 00000000000000000\n"), "ERR invalid queue id\n");
	assert_string_equal(ask(f, "hold abcdef0000000000\n"), "ERR invalid queue id\n");
	assert_string_equal(ask(f, "hold ../../etc/passw\n"), "ERR invalid queue id\n");
	assert_string_equal(ask(f, "li\tst\n"), "ERR control character in request\n");
	assert_string_equal(ask_n(f, "list\0junk\n", 10), "ERR control character in request\n");
	memset(big, 'a', sizeof(big));
	assert_string_equal(ask_n(f, big, sizeof(big)), "ERR request too long\n");
}

/* A request split across writes is put back together. */
static void
test_split_request(void **state)
{
	struct fixture *f = *state;
	int fd = sock_connect(f->sock);

	assert_int_equal(send(fd, "fl", 2, MSG_NOSIGNAL), 2);
	usleep(50000);
	assert_int_equal(send(fd, "ush\n", 4, MSG_NOSIGNAL), 4);
	assert_string_equal(sock_read_all(fd), "OK\n");
	close(fd);
}

/* A peer that closes without a full line gets nothing and harms nothing. */
static void
test_half_request(void **state)
{
	struct fixture *f = *state;
	int fd = sock_connect(f->sock);

	assert_int_equal(send(fd, "list", 4, MSG_NOSIGNAL), 4);
	shutdown(fd, SHUT_WR);
	assert_string_equal(sock_read_all(fd), "");
	close(fd);
	assert_non_null(strstr(ask(f, "list\n"), "OK\n"));
}

static void
test_socket_file(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	assert_int_equal(lstat(f->sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* control_stop does not wait for a silent peer's timeout, and removes the
 * socket. The fixture's teardown then has nothing left to stop. */
static void
test_stop_prompt(void **state)
{
	struct fixture *f = *state;
	int fd = sock_connect(f->sock);
	double t0;

	usleep(50000);   /* the control thread is now waiting for the request */
	t0 = now_s();
	control_stop(f->ctl);
	f->ctl = NULL;
	assert_true(now_s() - t0 < 2.0);
	assert_int_equal(access(f->sock, F_OK), -1);
	close(fd);
}

/* Another user who gets past the file mode is still refused. */
static void
test_peer_refused(void **state)
{
	struct fixture *f = *state;
	int p[2];
	char buf[64] = "";
	pid_t pid;

	if (geteuid() != 0)
		skip();
	assert_int_equal(chmod(f->sock, 0666), 0);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		int fd;
		ssize_t n;
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->sock);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
		    write(fd, "list\n", 5) != 5)
			_exit(3);
		n = read(fd, buf, sizeof(buf) - 1);
		if (n > 0 && write(p[1], buf, (size_t)n) != n)
			_exit(4);
		_exit(0);
	}
	close(p[1]);
	assert_true(read(p[0], buf, sizeof(buf) - 1) > 0);
	close(p[0]);
	waitpid(pid, NULL, 0);
	assert_string_equal(buf, "ERR permission denied\n");
}

static void
test_open_refuses_non_socket(void **state)
{
	char dir[] = "/tmp/ferry-test-ctl2-XXXXXX", path[100], err[256], cmd[128], lpath[200];
	struct control *c;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/control.sock", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_null(control_open(path, (uid_t)-1, (gid_t)-1, err, sizeof(err)));
	assert_non_null(strstr(err, "not a socket"));
	assert_int_equal(access(path, F_OK), 0);    /* left alone */
	unlink(path);
	/* A stale socket (its owner died without removing it) is replaced. */
	c = control_open(path, (uid_t)-1, (gid_t)-1, err, sizeof(err));
	assert_non_null(c);
	control_stop(c);     /* never started: just closes and removes */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	{
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
		assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	}
	close(fd);
	c = control_open(path, (uid_t)-1, (gid_t)-1, err, sizeof(err));
	assert_non_null(c);
	control_stop(c);
	memset(lpath, 'a', sizeof(lpath) - 1);
	lpath[sizeof(lpath) - 1] = '\0';
	assert_null(control_open(lpath, (uid_t)-1, (gid_t)-1, err, sizeof(err)));
	assert_non_null(strstr(err, "too long"));
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_show_hold_release_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_tenant, setup_tenant, teardown),
		cmocka_unit_test_setup_teardown(test_release_tenant_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_suspend_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_summary_request, setup, teardown),
		cmocka_unit_test(test_summary_roundtrip),
		cmocka_unit_test(test_summary_parse_bad),
		cmocka_unit_test(test_site_name_valid),
		cmocka_unit_test_setup_teardown(test_split_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_prompt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_refused, setup, teardown),
		cmocka_unit_test(test_open_refuses_non_socket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
