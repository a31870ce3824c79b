/*
 * ferry-sendmail - the sendmail(1)-compatible injector: reads a message on
 * standard input and hands it to ferryd over its local submission socket.
 * Options follow Postfix's sendmail(1); exit codes are sysexits(3).
 * SECURITY: runs with the invoking user's privileges and needs no others
 * (the socket is open to every local user, as sendmail is). Set-id, it
 * refuses -C and $FERRY_CONFIG, which would let a user choose the file,
 * and mailq (-bp), which would run ferryctl with the borrowed ids.
 */
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "conf/conf.h"
#include "sendmail/sendmail_compose.h"
#include "sendmail/sendmail_headers.h"
#include "sendmail/sendmail_msg.h"
#include "sendmail/sendmail_smtp.h"
#include "smtp/smtp_parse.h"
#include "util/xmalloc.h"

/* SYSCONFDIR/ferry/ferry.conf, set by the build (dist/CMakeLists.txt). */
#ifndef FERRY_CONF_DEFAULT
#define FERRY_CONF_DEFAULT "/etc/ferry/ferry.conf"
#endif
#define SENDMAIL_DEFAULT_CONF FERRY_CONF_DEFAULT
#define SENDMAIL_FULLNAME_MAX 256

struct sendmail_opts {
	const char *conf_path;     /* -C */
	const char *sender;        /* -f / -r; NULL: the login name */
	const char *fullname;      /* -F */
	bool        extract;       /* -t */
	bool        ignore_dots;   /* -i, -oi */
	bool        verbose;       /* -v */
	char        notify[32];    /* -N, as the NOTIFY= value */
	const char *ret;           /* -R, as the RET= value */
	char        envid[SMTP_ENVID_MAX + 1];   /* -V, xtext */
	bool        newaliases;    /* -bi, -I, or called as newaliases */
	bool        list_queue;    /* -bp, or called as mailq */
};

/* Installed set-user-ID or set-group-ID against the advice of the man page. */
static bool
sendmail_setid(void)
{
	return getuid() != geteuid() || getgid() != getegid();
}

/* mailq / -bp: what `ferryctl queue list` shows, from ferryctl beside this
 * program or on PATH. Only returns when it cannot be run. Never called
 * set-id (main refuses): the exec would hand the borrowed ids, the
 * caller's PATH and environment to ferryctl, never meant to be set-id. */
static void
sendmail_exec_mailq(const char *conf_path)
{
	char self[4096], ctl[4200];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash != NULL) {
			*slash = '\0';
			snprintf(ctl, sizeof(ctl), "%s/ferryctl", self);
			if (access(ctl, X_OK) == 0) {
				if (conf_path != NULL)
					execl(ctl, "ferryctl", "-c", conf_path, "queue", "list", (char *)NULL);
				else
					execl(ctl, "ferryctl", "queue", "list", (char *)NULL);
			}
		}
	}
	if (conf_path != NULL)
		execlp("ferryctl", "ferryctl", "-c", conf_path, "queue", "list", (char *)NULL);
	else
		execlp("ferryctl", "ferryctl", "queue", "list", (char *)NULL);
}

static void
sendmail_usage(void)
{
	fputs("usage: ferry-sendmail [-t] [-i] [-f sender] [-F fullname] [-C config]\n"
	    "                      [-N dsn] [-R ret] [-V envid] [-v] [--] [recipient ...]\n"
	    "  -t         also send to the To:, Cc: and Bcc: addresses of the message\n"
	    "  -i, -oi    a line with a single dot does not end the message\n"
	    "  -f sender  envelope sender (\"<>\": the null sender)\n"
	    "  -F name    full name for the From: line ferry-sendmail adds\n"
	    "  -C file    ferry.conf to read (default: $FERRY_CONFIG, else "
	    SENDMAIL_DEFAULT_CONF " if it exists, else the embedded default)\n"
	    "  -N dsn     never, or a list of success, failure, delay\n"
	    "  -R ret     full or hdrs\n"
	    "  -V envid   envelope id for delivery status notifications\n"
	    "  -v         show the SMTP dialogue with ferryd\n"
	    "See ferry-sendmail(8).\n", stderr);
}

static void __attribute__((noreturn, format(printf, 2, 3)))
sendmail_die(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("ferry-sendmail: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/* -N: "never", or a comma list of success, failure, delay (RFC 3461 4.1). */
static void
sendmail_opt_notify(struct sendmail_opts *o, const char *arg)
{
	static const char *const words[] = { "never", "success", "failure", "delay" };
	const char *p = arg;
	unsigned seen = 0;
	size_t len = 0;

	while (*p != '\0') {
		size_t n = strcspn(p, ","), i;
		for (i = 0; i < 4; i++)
			if (n == strlen(words[i]) && strncasecmp(p, words[i], n) == 0)
				break;
		if (i == 4 || (seen & (1u << i)))
			sendmail_die(EX_USAGE, "-N %s: expected never, or success, failure, delay", arg);
		seen |= 1u << i;
		if (len > 0)
			o->notify[len++] = ',';
		for (size_t k = 0; words[i][k] != '\0'; k++)   /* at most 21 octets in all */
			o->notify[len++] = (char)(words[i][k] - 'a' + 'A');
		o->notify[len] = '\0';
		p += n + (p[n] == ',');
	}
	if (seen == 0 || ((seen & 1u) && seen != 1u))
		sendmail_die(EX_USAGE, "-N %s: expected never, or success, failure, delay", arg);
}

static void
sendmail_opt_envid(struct sendmail_opts *o, const char *arg)
{
	for (const char *p = arg; *p != '\0'; p++)
		if (*p <= 32 || *p >= 127)
			sendmail_die(EX_USAGE, "-V %s: printable ASCII only", arg);
	if (strlen(arg) > SMTP_ENVID_MAX ||
	    smtp_xtext_encode(arg, strlen(arg), o->envid, sizeof(o->envid)) < 0)
		sendmail_die(EX_USAGE, "-V %s: too long", arg);
}

static void
sendmail_opt_mode(struct sendmail_opts *o, const char *arg)
{
	if (strcmp(arg, "m") == 0)
		return;
	if (strcmp(arg, "i") == 0) {
		o->newaliases = true;
		return;
	}
	if (strcmp(arg, "p") == 0) {
		o->list_queue = true;
		return;
	}
	if (strcmp(arg, "s") == 0)
		sendmail_die(EX_USAGE, "-bs is not supported: speak SMTP to ferryd's submission port");
	sendmail_die(EX_USAGE, "-b%s is not supported (only -bm and -bi)", arg);
}

/* Postfix's sendmail(1) option set: what has no meaning here is accepted
 * and ignored, so that programs written for sendmail keep working. */
static int
sendmail_opts_parse(int argc, char **argv, struct sendmail_opts *o)
{
	int ch;

	opterr = 0;
	while ((ch = getopt(argc, argv, "+A:B:C:F:GIL:N:O:R:UV:X:b:cf:h:imno:p:q::r:tvx")) != -1) {
		switch (ch) {
		case 'C': o->conf_path = optarg; break;
		case 'F': o->fullname = optarg; break;
		case 'f': case 'r': o->sender = optarg; break;
		case 't': o->extract = true; break;
		case 'i': o->ignore_dots = true; break;
		case 'o': if (optarg[0] == 'i') o->ignore_dots = true; break;
		case 'v': o->verbose = true; break;
		case 'b': sendmail_opt_mode(o, optarg); break;
		case 'I': o->newaliases = true; break;
		case 'N': sendmail_opt_notify(o, optarg); break;
		case 'V': sendmail_opt_envid(o, optarg); break;
		case 'R':
			if (strcasecmp(optarg, "full") == 0)
				o->ret = "FULL";
			else if (strcasecmp(optarg, "hdrs") == 0)
				o->ret = "HDRS";
			else
				sendmail_die(EX_USAGE, "-R %s: expected full or hdrs", optarg);
			break;
		case 'q':
			sendmail_die(EX_USAGE, "-q is not supported: ferryd runs its own queue");
			break;
		case '?': case ':':
			if (optopt != 0 && strchr("ABCFLNORVXbfhopr", optopt) != NULL)
				fprintf(stderr, "ferry-sendmail: option -%c needs an argument\n", optopt);
			else if (optopt != 0)
				fprintf(stderr, "ferry-sendmail: unknown option -%c\n", optopt);
			sendmail_usage();
			exit(EX_USAGE);
		default:   /* -A -B -G -L -O -U -X -c -h -m -n -p -x: no meaning here */
			break;
		}
	}
	return optind;
}

/* Which ferry.conf this run reads: -C, else $FERRY_CONFIG, else the
 * system file if present, else NULL for the embedded default (whose spool,
 * like ferryd's, is ./var). mailq passes the same path on to ferryctl, so
 * that listing the queue and sending mail never read different files. */
static const char *
sendmail_conf_path(const char *opt)
{
	const char *env = conf_env_path();

	if (sendmail_setid() && (opt != NULL || env != NULL))
		sendmail_die(EX_USAGE, "-C and $FERRY_CONFIG are refused in a set-id program");
	if (opt != NULL)
		return opt;
	if (env != NULL)
		return env;
	if (access(SENDMAIL_DEFAULT_CONF, F_OK) == 0)
		return SENDMAIL_DEFAULT_CONF;
	return NULL;
}

static struct conf *
sendmail_conf_load(const char *path)
{
	char err[1024];
	struct conf *c;

	/* the dkim_sign keys are ferryd's, private: every user must be able to send */
	if ((c = conf_load_flags(path, CONF_LOAD_NO_FILES, err, sizeof(err))) == NULL)
		sendmail_die(EX_CONFIG, "%s", err);
	return c;
}

/* Exactly one address from text (an -f value or a login name), qualified
 * with origin and validated; the caller frees it. */
static char *
sendmail_one_addr(const char *text, const char *origin, bool *utf8)
{
	struct sendmail_rcpts r = { 0 };
	char err[256], *addr;

	if (sendmail_addrlist_parse(text, strlen(text), origin, &r, err, sizeof(err)) < 0 || r.n != 1) {
		sendmail_rcpts_free(&r);
		return NULL;
	}
	addr = r.v[0];
	*utf8 |= r.utf8;
	r.n = 0;
	sendmail_rcpts_free(&r);
	return addr;
}

/* The invoking user's address: login name @ origin. */
static char *
sendmail_login_addr(const char *origin)
{
	struct passwd *pw = getpwuid(getuid());
	bool utf8 = false;
	char *addr;

	if (pw == NULL)
		sendmail_die(EX_UNAVAILABLE, "no login name for user ID %lu", (unsigned long)getuid());
	if (strchr(pw->pw_name, '@') != NULL || (addr = sendmail_one_addr(pw->pw_name, origin, &utf8)) == NULL)
		sendmail_die(EX_UNAVAILABLE, "login name %s cannot be an address", pw->pw_name);
	return addr;
}

/* -f: "" and "<>" are the null sender. */
static char *
sendmail_sender(const struct sendmail_opts *o, const char *origin, bool *utf8)
{
	char *addr;

	if (o->sender == NULL)
		return sendmail_login_addr(origin);
	if (o->sender[0] == '\0' || strcmp(o->sender, "<>") == 0)
		return xstrdup("");
	if ((addr = sendmail_one_addr(o->sender, origin, utf8)) == NULL)
		sendmail_die(EX_USAGE, "bad sender address: %s", o->sender);
	return addr;
}

static void
sendmail_argv_rcpts(int argc, char **argv, const char *origin, struct sendmail_rcpts *r)
{
	char err[256];

	for (int i = 0; i < argc; i++)
		if (sendmail_addrlist_parse(argv[i], strlen(argv[i]), origin, r, err, sizeof(err)) < 0) {
			fprintf(stderr, "ferry-sendmail: bad recipient address %s: %s\n", argv[i], err);
			exit(EX_USAGE);
		}
}

/* The fields a message lacks, as Postfix's cleanup adds them. */
static size_t
sendmail_extra_fields(const struct sendmail_msg *m, const struct sendmail_opts *o, const struct conf *c,
    const char *sender, const char *origin, char *extra[3])
{
	time_t now = time(NULL);
	size_t n = 0;

	if (!sendmail_headers_has(&m->hdr, "From")) {
		char *login = sender[0] == '\0' ? sendmail_login_addr(origin) : NULL;
		extra[n++] = sendmail_compose_from(o->fullname, login != NULL ? login : sender);
		free(login);
	}
	if (!sendmail_headers_has(&m->hdr, "Date"))
		extra[n++] = sendmail_compose_date(now);
	if (!sendmail_headers_has(&m->hdr, "Message-ID"))
		extra[n++] = sendmail_compose_message_id(c->hostname, now);
	return n;
}

static void
sendmail_msg_check(struct sendmail_msg *m, int rc)
{
	if (rc != 0) {
		fprintf(stderr, "ferry-sendmail: %s\n", m->err);
		exit(rc);
	}
}

/* Read the message; with -t, add the header recipients to r. */
static void
sendmail_msg_read(struct sendmail_msg *m, const struct sendmail_opts *o, const struct conf *c,
    const char *sender, const char *origin, struct sendmail_rcpts *r)
{
	char err[512], *extra[3];
	size_t nextra;

	sendmail_msg_init(m, STDIN_FILENO, !o->ignore_dots, (uint64_t)c->max_message_size);
	sendmail_msg_check(m, sendmail_msg_headers_read(m));
	if (o->extract && sendmail_headers_rcpts(&m->hdr, origin, r, err, sizeof(err)) < 0)
		sendmail_die(EX_DATAERR, "%s", err);
	if (r->n == 0)
		sendmail_die(EX_USAGE, "no recipients");
	sendmail_headers_bcc_remove(&m->hdr);
	nextra = sendmail_extra_fields(m, o, c, sender, origin, extra);
	sendmail_msg_check(m, sendmail_msg_headers_write(m, extra, nextra));
	for (size_t i = 0; i < nextra; i++)
		free(extra[i]);
	sendmail_msg_check(m, sendmail_msg_body_read(m));
}

int
main(int argc, char **argv)
{
	struct sendmail_opts o = { 0 };
	struct sendmail_rcpts rcpts = { 0 };
	struct sendmail_msg m;
	struct sendmail_env env = { 0 };
	const char *prog = argc > 0 && argv[0] != NULL ? argv[0] : "ferry-sendmail";
	const char *origin;
	struct conf *c;
	char *sender;
	bool utf8 = false;
	int first, rc;

	signal(SIGPIPE, SIG_IGN);
	if (strrchr(prog, '/') != NULL)
		prog = strrchr(prog, '/') + 1;
	o.newaliases = strcmp(prog, "newaliases") == 0;
	o.list_queue = strcmp(prog, "mailq") == 0;
	first = sendmail_opts_parse(argc, argv, &o);
	if (o.list_queue) {
		if (sendmail_setid())
			sendmail_die(EX_USAGE, "mailq (-bp) is refused in a set-id program: "
			    "run ferryctl queue list");
		sendmail_exec_mailq(sendmail_conf_path(o.conf_path));
		sendmail_die(EX_UNAVAILABLE, "cannot run ferryctl to list the queue");
	}
	if (o.newaliases) {
		fputs("ferry-sendmail: aliases live in ferry.conf; reload ferryd (SIGHUP) after editing them\n",
		    stderr);
		return EX_OK;
	}
	if (o.fullname != NULL && strlen(o.fullname) > SENDMAIL_FULLNAME_MAX)
		sendmail_die(EX_USAGE, "-F: full name longer than %d octets", SENDMAIL_FULLNAME_MAX);
	c = sendmail_conf_load(sendmail_conf_path(o.conf_path));
	origin = c->ndomains > 0 ? c->domains[0] : "localhost";
	sender = sendmail_sender(&o, origin, &utf8);
	sendmail_argv_rcpts(argc - first, argv + first, origin, &rcpts);
	if (!o.extract && rcpts.n == 0)
		sendmail_die(EX_USAGE, "no recipients (name them, or use -t)");
	if (strcmp(c->submit_socket, "none") == 0)
		sendmail_die(EX_UNAVAILABLE, "ferryd's submission socket is off (submit_socket none)");
	sendmail_msg_read(&m, &o, c, sender, origin, &rcpts);
	sendmail_rcpts_dedup(&rcpts);
	if (rcpts.n > (size_t)c->max_recipients) {
		fprintf(stderr, "ferry-sendmail: %zu recipients, more than max_recipients (%lld)\n",
		    rcpts.n, c->max_recipients);
		exit(EX_USAGE);
	}
	env = (struct sendmail_env){
		.sender = sender, .rcpts = rcpts.v, .nrcpts = rcpts.n,
		.smtputf8 = utf8 || rcpts.utf8, .notify = o.notify[0] ? o.notify : NULL,
		.ret = o.ret, .envid = o.envid[0] ? o.envid : NULL, .verbose = o.verbose,
	};
	rc = sendmail_smtp_submit(c->submit_socket, &env, &m);
	sendmail_msg_free(&m);
	sendmail_rcpts_free(&rcpts);
	free(sender);
	conf_free(c);
	return rc;
}
