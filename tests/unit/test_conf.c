/* test_conf.c - ferry.conf parsing, option ranges, error messages (each
 * names FILE:LINE and its real cause), open-relay refusal, CIDR matching
 * and the relay decision. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "policy/relay.h"
#include "util/netaddr.h"

static char tmpl[] = "/tmp/ferry-test-conf-XXXXXX";

static struct conf *
load_text_flags(const char *text, unsigned flags, char *err, size_t errlen)
{
	char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s", tmpl);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	struct conf *c = conf_load_flags(path, flags, err, errlen);
	if (c == NULL) {
		/* keep only "LINE: message" so tests need not know the temp name */
		char *colon = strchr(err, ':');
		if (colon != NULL)
			memmove(err, colon + 1, strlen(colon + 1) + 1);
	}
	unlink(path);
	return c;
}

static struct conf *
load_text(const char *text, char *err, size_t errlen)
{
	return load_text_flags(text, 0, err, errlen);
}

static void
test_embedded_default(void **state)
{
	char err[256];
	struct conf *c = conf_load(NULL, err, sizeof(err));

	(void)state;
	assert_non_null(c);
	assert_int_equal(c->nlisteners, 4);   /* mx, submission, submissions, local */
	assert_string_equal(c->listeners[0].text, "127.0.0.1:2525");
	assert_int_equal(c->listeners[3].role, CONF_ROLE_LOCAL);
	assert_string_equal(c->listeners[3].text, "./var/submit.sock");
	assert_string_equal(c->maildir_root, "./var/mail");
	assert_true(c->delivery_on);
	assert_true(conf_domain_hosted(c, "localhost"));
	assert_true(conf_mailbox_exists(c, "postmaster@localhost"));
	assert_int_equal(c->nrelay_nets, 0);
	assert_string_equal(c->spool_dir, "./var");
	assert_true(c->tls_generate);
	/* the HTTP API on loopback, apart from the SMTP listeners */
	assert_int_equal(c->nhttp_listeners, 1);
	assert_int_equal(c->http_listeners[0].role, CONF_ROLE_HTTP);
	assert_string_equal(c->http_listeners[0].text, "127.0.0.1:8025");
	assert_string_equal(c->http_admin_token_file, "./var/admin.token");
	assert_string_equal(c->http_www_dir, "dist/www");
	assert_int_equal(conf_check(c, err, sizeof(err)), 0);
	conf_free(c);
}

static void
test_options_and_units(void **state)
{
	char err[256];
	struct conf *c = load_text(
	    "# comment\n"
	    "listen mx 127.0.0.1:25   # trailing comment\n"
	    "listen submission [::1]:587\n"
	    "domain Example.COM example.net\n"
	    "mailbox Alice@Example.com\n"
	    "alias sales@example.com alice@example.com bob@example.net\n"
	    "max_message_size 10m\n"
	    "timeout_command 5m\n"
	    "bare_lf reject\n"
	    "relay_networks 192.0.2.0/24 2001:db8::/32\n", err, sizeof(err));

	(void)state;
	assert_non_null(c);
	assert_int_equal(c->max_message_size, 10 * 1024 * 1024);
	assert_int_equal(c->timeout_command, 300);
	assert_true(c->reject_bare_lf);
	assert_true(conf_domain_hosted(c, "example.com"));
	assert_true(conf_mailbox_exists(c, "alice@example.com"));
	assert_non_null(conf_alias_find(c, "sales@example.com"));
	assert_int_equal(conf_alias_find(c, "sales@example.com")->nto, 2);
	assert_null(conf_alias_find(c, "nobody@example.com"));
	assert_int_equal(conf_check(c, err, sizeof(err)), 0);
	conf_free(c);
}

static void
test_routes(void **state)
{
	char err[256];
	struct conf *c = load_text(
	    "listen mx 127.0.0.1:25\ndomain example.com\n"
	    "route * smtp:[smarthost.example.net]:587 tls=require tls_verify=no auth=u:p:w source=192.0.2.9\n"
	    "route example.com lmtp:/run/dovecot/lmtp\n"
	    "route example.org mx\nsmtp_tls none\ndelivery off\n", err, sizeof(err));
	const struct conf_route *r;

	(void)state;
	assert_non_null(c);
	r = conf_route_find(c, "anything.test");
	assert_non_null(r);
	assert_int_equal(r->transport, CONF_TRANSPORT_SMTP);
	assert_string_equal(r->host, "smarthost.example.net");
	assert_int_equal(r->port, 587);
	assert_int_equal(r->tls, CONF_TLS_REQUIRE);
	assert_true(r->tls_noverify);
	assert_string_equal(r->auth_user, "u");
	assert_string_equal(r->auth_pass, "p:w");
	assert_string_equal(r->source, "192.0.2.9");
	r = conf_route_find(c, "example.com");
	assert_int_equal(r->transport, CONF_TRANSPORT_LMTP);
	assert_string_equal(r->path, "/run/dovecot/lmtp");
	assert_int_equal(conf_route_find(c, "example.org")->transport, CONF_TRANSPORT_MX);
	assert_int_equal(c->smtp_tls, CONF_TLS_NONE);
	assert_false(c->delivery_on);
	conf_free(c);
	c = load_text("listen mx 127.0.0.1:25\ndomain example.com\n", err, sizeof(err));
	assert_int_equal(conf_route_find(c, "example.com")->transport, CONF_TRANSPORT_MAILDIR);
	assert_null(conf_route_find(c, "elsewhere.test"));   /* plain MX lookup */
	conf_free(c);
}

static void expect_error(const char *text, const char *want);

/* A route with auth= verifies the smarthost unless it says otherwise in
 * writing; combinations that would send the password unverified are refused. */
static void
test_route_auth_verifies(void **state)
{
	char err[256];
	struct conf *c = load_text("route * smtp:relay.test:587 auth=u:p\n"
	    "route a.test smtp:relay.test tls=verify\nroute b.test lmtp:/run/lmtp auth=u:p\n"
	    "smtp_tls verify\n", err, sizeof(err));

	(void)state;
	assert_non_null(c);
	assert_int_equal(conf_route_find(c, "x.test")->tls, CONF_TLS_VERIFY);
	assert_false(conf_route_find(c, "x.test")->tls_noverify);
	assert_int_equal(conf_route_find(c, "a.test")->tls, CONF_TLS_VERIFY);
	assert_int_equal(conf_route_find(c, "b.test")->tls, CONF_TLS_DEFAULT);   /* local socket */
	assert_int_equal(c->smtp_tls, CONF_TLS_VERIFY);
	assert_null(c->tls_ca_file);
	conf_free(c);
	expect_error("\nroute * smtp:relay.test:587 tls=require auth=u:p\n",
	    "2: route: auth= with tls=require would send the password to an unverified peer; write tls=verify");
	expect_error("route * smtp:relay.test tls=may auth=u:p\n", "1: route: auth= with tls=may");
	expect_error("route * smtp:relay.test tls=none auth=u:p\n", "1: route: auth= with tls=none");
	expect_error("route * smtp:relay.test auth=u:p tls_verify=no\n",
	    "1: route: tls_verify=no is only meaningful with tls=require (write: tls=require tls_verify=no)");
	expect_error("route * smtp:relay.test tls=verify tls_verify=no auth=u:p\n", "only meaningful");
	expect_error("route x.test mx auth=u:p\n", "1: route: auth= needs a fixed next hop (smtp:HOST or lmtp:); an mx route");
	expect_error("route x.test maildir auth=u:p\n", "a maildir route would never use the password");
}

/* tls_ca_file is read at load time: a missing or non-PEM file names its line. */
static void
test_tls_ca_file_checked(void **state)
{
	char err[256], text[300], pem[] = "/tmp/ferry-test-ca-XXXXXX";
	int fd = mkstemp(pem);
	struct conf *c;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not a certificate\n", 18), 18);
	close(fd);
	snprintf(text, sizeof(text), "hostname a.test\ntls_ca_file %s\n", pem);
	expect_error(text, "2: tls_ca_file: ");
	expect_error("tls_ca_file /nonexistent/ca.pem\n", "1: tls_ca_file: /nonexistent/ca.pem: cannot load CA");
	unlink(pem);
	c = load_text("tls_ca_file /etc/ssl/certs/ca-certificates.crt\n", err, sizeof(err));
	if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0) {
		assert_non_null(c);
		assert_string_equal(c->tls_ca_file, "/etc/ssl/certs/ca-certificates.crt");
	}
	conf_free(c);
}

/* ferry-sendmail and ferryctl: the lines are checked, the files they
 * name are not opened (a key only root may read would stop them). */
static void
test_no_files_names_without_opening(void **state)
{
	char err[256];
	const char *files = "hostname a.test\ndkim_sign example.com s1 /nonexistent/k.pem\n"
	    "tls_ca_file /nonexistent/ca.pem\n";
	struct conf *c = load_text_flags(files, CONF_LOAD_NO_FILES, err, sizeof(err));

	(void)state;
	assert_non_null(c);
	assert_int_equal(c->ndkim, 0);
	assert_string_equal(c->tls_ca_file, "/nonexistent/ca.pem");
	conf_free(c);
	assert_null(load_text(files, err, sizeof(err)));
	assert_string_equal(err, "2: dkim_sign: /nonexistent/k.pem: No such file or directory");
	assert_null(load_text_flags("dkim_sign example.com bad/sel /k.pem\n", CONF_LOAD_NO_FILES,
	    err, sizeof(err)));
	assert_string_equal(err, "1: dkim_sign: bad domain 'example.com' or selector 'bad/sel'");
	assert_null(load_text_flags("dkim_sign example.com s1\n", CONF_LOAD_NO_FILES, err, sizeof(err)));
	assert_string_equal(err, "1: usage: dkim_sign DOMAIN SELECTOR KEYFILE");
}

static void
test_restart_needed(void **state)
{
	static const char *const changes[][2] = {
		{ "spool_dir /other\n", "spool_dir" },
		{ "state_db /other.db\n", "state_db" },
		{ "control_socket /c.sock\n", "control_socket" },
		{ "submit_socket none\n", "submit_socket" },
		{ "user nobody\n", "user" },
		{ "hostname b.test\nmax_errors 5\n", NULL },
	};
	char err[256];
	struct conf *run = load_text("hostname a.test\n", err, sizeof(err));

	(void)state;
	assert_non_null(run);
	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		struct conf *next = load_text(changes[i][0], err, sizeof(err));
		assert_non_null(next);
		if (changes[i][1] == NULL)
			assert_null(conf_restart_needed(run, next));
		else
			assert_string_equal(conf_restart_needed(run, next), changes[i][1]);
		conf_free(next);
	}
	conf_free(run);
}

static void
expect_error(const char *text, const char *want)
{
	char err[256];
	struct conf *c = load_text(text, err, sizeof(err));

	assert_null(c);
	if (strstr(err, want) == NULL)
		fail_msg("error '%s' does not contain '%s'", err, want);
}

static void
test_errors_name_the_line(void **state)
{
	(void)state;
	expect_error("listen mx 127.0.0.1:25\nbogus 1\n", "2: unknown option 'bogus'");
	expect_error("\n\nmax_recipients 5\n", "3: max_recipients: 5 is out of range");
	expect_error("max_errors 1\nmax_errors 2\n", "2: max_errors is set twice");
	expect_error("max_message_size 12x\n", "1: max_message_size: '12x' is not a number");
	expect_error("max_message_size 99999999999999999999999\n", "is not a number");
	expect_error("listen mx 127.0.0.1\n", "1: listen: bad address");
	expect_error("listen mx 127.0.0.1:0\n", "bad address");
	expect_error("listen pop3 127.0.0.1:110\n", "unknown role");
	expect_error("domain -bad.example\n", "not a valid domain");
	expect_error("mailbox nobody\n", "not a valid address");
	expect_error("relay_networks 10.0.0.0/33\n", "not an address or CIDR");
	expect_error("tls_cert /x.pem\n", "tls_cert is set but tls_key is not");
	expect_error("hostname\n", "hostname takes one value");
	expect_error("hostname a\001b\n", "control character");
	expect_error("route x.test pigeon:coop\n", "1: route: unknown transport");
	expect_error("route x.test smtp:host:99999\n", "bad port");
	expect_error("route x.test smtp:h tls=maybe\n", "tls= takes");
	expect_error("smtp_tls sometimes\n", "1: smtp_tls: 'sometimes' is not none, may, require or verify");
	expect_error("smtp_tls\n", "1: smtp_tls takes one value (none, may, require or verify)");
	expect_error("bare_lf maybe\n", "1: bare_lf: 'maybe' is not reject or normalize");
	expect_error("outbound_source nowhere\n", "1: outbound_source: 'nowhere' is not an IPv4 or IPv6 address");
	expect_error("log_level verbose\n", "1: log_level: 'verbose' is not info or debug");
	expect_error("postmaster nobody\n", "1: postmaster: 'nobody' is not an address (local@domain)");
	expect_error("route x.test smtp:h tls=maybe\n", "1: route: tls= takes none, may, require or verify");
	/* a second auth= leaked the first and silently won */
	expect_error("route * smtp:h auth=a:b auth=c:d\n", "1: route: auth= is given twice");
	expect_error("pool p\npool_address p 192.0.2.1 warmup=1,2 warmup=3\n",
	    "2: pool_address: warmup= is given twice");
	expect_error("provider g g.test rate=1 rate=2\n", "1: provider: rate= is given twice");
}

/* Issue 8: every error names its line and its real cause, including those
 * only known once the whole file is read. */
static void
test_errors_name_line_and_cause(void **state)
{
	(void)state;
	expect_error("listen mx 127.0.0.1:25\ndomain example.com\nmailbox a@other.test\n",
	    "3: mailbox a@other.test is not in a hosted domain (add a 'domain' line)");
	expect_error("listen mx 127.0.0.1:25\nmailbox a@example.com\nalias b@other.test a@example.com\n"
	    "domain example.com\nmailbox c@other.test\n",
	    "3: alias b@other.test is not in a hosted domain");
	expect_error("listen mx 127.0.0.1:25\n\nrelay_networks 10.0.0.0/8 0.0.0.0/0\n",
	    "3: relay_networks: 0.0.0.0/0 is wider than /8 (IPv4) or /16 (IPv6): that would be an open relay");
	expect_error("\n\ntls_cert /x.pem\n", "3: tls_cert is set but tls_key is not");
	expect_error("tls_key /x.pem\n", "1: tls_key is set but tls_cert is not");
	expect_error("hostname a\001b\n", "1: control character 0x01 in line (column 11)");
	expect_error("hostname a\177b\n", "1: control character 0x7f in line");
	expect_error("hostname a\nhostname b\n", "2: hostname is set twice (first on line 1)");
	expect_error("dkim_sign example.com s1 /nonexistent/k.pem\n",
	    "1: dkim_sign: /nonexistent/k.pem: No such file or directory");
	expect_error("dkim_sign example.com s1 /tmp\n", "1: dkim_sign: /tmp: is a directory");
}

/* Write n bytes (which may hold NULs) and load them. */
static struct conf *
load_bytes(const char *bytes, size_t n, char *err, size_t errlen)
{
	char path[64];
	struct conf *c;
	int fd;

	snprintf(path, sizeof(path), "%s", tmpl);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, bytes, n), (ssize_t)n);
	close(fd);
	c = conf_load(path, err, errlen);
	if (c == NULL && strncmp(err, path, strlen(path)) == 0)
		memmove(err, err + strlen(path), strlen(err + strlen(path)) + 1);
	unlink(path);
	return c;
}

static void
test_nul_and_long_lines(void **state)
{
	static const char nul[] = "listen mx 127.0.0.1:25\nhostname a\0b\n";
	char big[6000], err[256];

	(void)state;
	assert_null(load_bytes(nul, sizeof(nul) - 1, err, sizeof(err)));
	assert_string_equal(err, ":2: NUL byte in line");
	/* a line of exactly the maximum is fine, one byte more is not */
	memset(big, ' ', sizeof(big));
	memcpy(big, "hostname a", 10);
	big[4096] = '\n';
	struct conf *c = load_bytes(big, 4097, err, sizeof(err));
	assert_non_null(c);
	conf_free(c);
	big[4096] = ' ';
	big[4097] = '\n';
	assert_null(load_bytes(big, 4098, err, sizeof(err)));
	assert_string_equal(err, ":1: line too long (max 4096 bytes)");
	/* the last line needs no newline */
	c = load_bytes("hostname a.test", 15, err, sizeof(err));
	assert_non_null(c);
	assert_string_equal(c->hostname, "a.test");
	conf_free(c);
}

static void
test_file_errors_have_no_line(void **state)
{
	char err[256];

	(void)state;
	assert_null(conf_load("/tmp", err, sizeof(err)));
	assert_string_equal(err, "/tmp: is a directory");
	assert_null(conf_load("/nonexistent/ferry.conf", err, sizeof(err)));
	assert_string_equal(err, "/nonexistent/ferry.conf: No such file or directory");
}

/* Every single-valued option of the table is refused twice. */
static void
test_every_scalar_option_once(void **state)
{
	static const char *const lines[] = {
		"hostname h.test", "user ferry", "spool_dir /s", "users_file /u", "state_db /d",
		"log_file /l", "log_level info", "maildir_root /m", "control_socket /c",
		"submit_socket none", "postmaster p@h.test", "workers 2", "max_message_size 1m",
		"max_recipients 100", "max_line_length 2k", "max_connections 5",
		"max_connections_per_client 5", "max_errors 5", "auth_max_failures 5",
		"timeout_command 1m", "timeout_data 1m", "timeout_shutdown 1m", "bare_lf reject",
		"spool_sync fsync", "delivery off", "delivery_threads 2", "retry_min 1m", "retry_max 1h",
		"max_queue_lifetime 1d", "delay_warning 1h", "smtp_port 2525", "destination_concurrency 2",
		"destination_msgs_per_conn 2", "destination_rate 2", "dns_timeout 5", "connect_timeout 5",
		"smtp_timeout 5", "dns_servers 127.0.0.1", "outbound_source 192.0.2.1", "smtp_tls none",
		"suppress_soft_threshold 5", "suppress_soft_window 2d", "suppress_soft_expiry 0",
	};
	char text[256], want[128], err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		size_t n = strcspn(lines[i], " ");
		snprintf(text, sizeof(text), "listen mx 127.0.0.1:25\n%s\n", lines[i]);
		struct conf *c = load_text(text, err, sizeof(err));
		if (c == NULL)
			fail_msg("'%s' refused: %s", lines[i], err);
		conf_free(c);
		snprintf(text, sizeof(text), "%s\n# again\n%s\n", lines[i], lines[i]);
		snprintf(want, sizeof(want), "3: %.*s is set twice (first on line 1)", (int)n, lines[i]);
		expect_error(text, want);
	}
	expect_error("tls_cert /c\ntls_key /k\ntls_key /k\n", "3: tls_key is set twice (first on line 2)");
}

/* The table's defaults, as documented in docs/configuration.md. */
static void
test_defaults(void **state)
{
	char err[256];
	struct conf *c = load_text("listen mx 127.0.0.1:25\n", err, sizeof(err));

	(void)state;
	assert_non_null(c);
	assert_int_equal(c->max_message_size, 36700160);
	assert_int_equal(c->timeout_data, 180);
	assert_int_equal(c->smtp_tls, CONF_TLS_MAY);
	assert_true(c->delivery_on);
	assert_true(c->spool_syncfs);
	assert_false(c->reject_bare_lf);
	assert_string_equal(c->run_user, "ferry");
	assert_true(c->run_user_default);
	assert_string_equal(c->spool_dir, "/var/spool/ferry");
	assert_string_equal(c->state_db, "/var/spool/ferry/ferry.db");
	assert_null(c->outbound_source);
	assert_int_equal(c->suppress_soft_threshold, 3);
	assert_int_equal(c->suppress_soft_window, 7 * 86400);
	assert_int_equal(c->suppress_soft_expiry, 30 * 86400);
	assert_int_equal(c->webhook_batch_max, 100);
	assert_int_equal(c->webhook_timeout, 10);
	assert_int_equal(c->webhook_retry_min, 30);
	assert_int_equal(c->webhook_retry_limit, 86400);
	assert_int_equal(c->webhook_concurrency, 16);
	conf_free(c);
	expect_error("webhook_batch_max 0\n", "1: webhook_batch_max: 0 is out of range [1, 1000]");
	expect_error("suppress_soft_window 30s\n",
	    "1: suppress_soft_window: 30 is out of range [60, 31536000]");
	expect_error("suppress_soft_threshold 0\n", "1: suppress_soft_threshold: 0 is out of range [1, 1000]");
	c = load_text("listen mx 127.0.0.1:25\nuser mail\n", err, sizeof(err));
	assert_non_null(c);
	assert_string_equal(c->run_user, "mail");
	assert_false(c->run_user_default);
	conf_free(c);
}

static void
test_open_relay_refused(void **state)
{
	const char *bad[] = { "0.0.0.0/0", "::/0", "1.0.0.0/7", "2000::/3", "::ffff:0.0.0.0/96" };
	char text[256], want[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "listen mx 127.0.0.1:25\nrelay_networks %s\n", bad[i]);
		snprintf(want, sizeof(want), "2: relay_networks: %s is wider than", bad[i]);
		expect_error(text, want);
		expect_error(text, "open relay");
	}
}

static void
test_no_listener_refused(void **state)
{
	char err[256];
	struct conf *c = load_text("domain example.com\n", err, sizeof(err));

	(void)state;
	assert_non_null(c);
	assert_int_equal(conf_check(c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ": no listen lines: ferryd would accept nothing"));
	conf_free(c);
}

static struct sockaddr_storage
sa_of(const char *ip)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':') != NULL) {
		ss.ss_family = AF_INET6;
		inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr);
	} else {
		ss.ss_family = AF_INET;
		inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr);
	}
	return ss;
}

static void
test_cidr_match(void **state)
{
	struct netaddr_net n;
	struct sockaddr_storage a;

	(void)state;
	assert_int_equal(netaddr_net_parse("192.0.2.128/25", &n), 0);
	a = sa_of("192.0.2.200");
	assert_true(netaddr_net_match(&n, (struct sockaddr *)&a));
	a = sa_of("192.0.2.127");
	assert_false(netaddr_net_match(&n, (struct sockaddr *)&a));
	a = sa_of("::ffff:192.0.2.200");
	assert_true(netaddr_net_match(&n, (struct sockaddr *)&a));
	assert_int_equal(netaddr_net_parse("2001:db8::/32", &n), 0);
	a = sa_of("2001:db8:1::5");
	assert_true(netaddr_net_match(&n, (struct sockaddr *)&a));
	a = sa_of("2001:db9::5");
	assert_false(netaddr_net_match(&n, (struct sockaddr *)&a));
	assert_int_equal(netaddr_net_parse("1.2.3.4/", &n), -1);
	assert_int_equal(netaddr_net_parse("nonsense", &n), -1);
}

static struct smtp_path
path_of(const char *addr)
{
	struct smtp_path p;
	const char *at = strrchr(addr, '@');

	memset(&p, 0, sizeof(p));
	snprintf(p.addr, sizeof(p.addr), "%s", addr);
	p.len = strlen(addr);
	p.at = at ? (size_t)(at - addr) : p.len;
	p.literal = at && at[1] == '[';
	return p;
}

static void
test_relay_decision(void **state)
{
	char err[256];
	struct conf *c = load_text("listen mx 127.0.0.1:25\ndomain example.com\n"
	    "mailbox alice@example.com\nalias info@example.com alice@example.com\n", err, sizeof(err));
	struct smtp_path p;

	(void)state;
	assert_non_null(c);
	p = path_of("alice@example.com");
	assert_int_equal(relay_rcpt_check(c, &p, false), RELAY_OK_LOCAL);
	p = path_of("ALICE@example.com");
	assert_int_equal(relay_rcpt_check(c, &p, false), RELAY_OK_LOCAL);
	p = path_of("info@example.com");
	assert_int_equal(relay_rcpt_check(c, &p, false), RELAY_OK_LOCAL);
	p = path_of("PostMaster@example.com");
	assert_int_equal(relay_rcpt_check(c, &p, false), RELAY_OK_LOCAL);
	p = path_of("Postmaster");
	assert_int_equal(relay_rcpt_check(c, &p, false), RELAY_OK_LOCAL);
	p = path_of("bob@example.com");
	assert_int_equal(relay_rcpt_check(c, &p, true), RELAY_UNKNOWN_USER);
	p = path_of("victim%other.org@example.com");
	assert_int_equal(relay_rcpt_check(c, &p, false), RELAY_UNKNOWN_USER);
	p = path_of("other.org!victim@example.com");
	assert_int_equal(relay_rcpt_check(c, &p, false), RELAY_UNKNOWN_USER);
	p = path_of("x@other.org");
	assert_int_equal(relay_rcpt_check(c, &p, false), RELAY_DENIED);
	assert_int_equal(relay_rcpt_check(c, &p, true), RELAY_OK_RELAY);
	p = path_of("x@[192.0.2.1]");
	assert_int_equal(relay_rcpt_check(c, &p, false), RELAY_DENIED);
	conf_free(c);
}

/* milter lines, a listener's milters= and tenant_milters: names resolved
 * once the file is read (a milter may be defined after its use), defaults,
 * and each mistake reported at its line. */
static void
test_milters(void **state)
{
	char err[512];
	struct conf *c;
	(void)state;
	c = load_text("listen mx 127.0.0.1:25 milters=rspamd,av source=127.0.0.2\n"
	    "milter rspamd inet:127.0.0.1:11332 spam=yes\n"
	    "milter av unix:/run/clamav/milter.sock connect_timeout=2s timeout=1m default_action=accept\n"
	    "tenant_milters rspamd\n", err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->nmilters, 2);
	assert_int_equal(c->milters[0].connect_timeout, 5);
	assert_int_equal(c->milters[0].timeout, 30);
	assert_false(c->milters[0].default_accept);
	assert_int_equal(c->milters[1].timeout, 60);
	assert_true(c->milters[1].default_accept);
	assert_true(c->milters[0].spam);
	assert_false(c->milters[1].spam);   /* the default: its rejects are final */
	assert_int_equal(c->listeners[0].nmilters, 2);
	assert_ptr_equal(c->listeners[0].milters[1], &c->milters[1]);
	assert_string_equal(c->listeners[0].source, "127.0.0.2");
	assert_int_equal(c->ntenant_milters, 1);
	assert_ptr_equal(c->tenant_milters[0], &c->milters[0]);
	conf_free(c);

	expect_error("listen mx 127.0.0.1:25 milters=nope\n", "1: milter nope is not defined");
	expect_error("listen mx 127.0.0.1:25\n\ntenant_milters x\n", "3: milter x is not defined");
	expect_error("listen mx 127.0.0.1:25\nmilter a inet:localhost:1\n", "2: milter: 'inet:localhost:1'");
	expect_error("listen mx 127.0.0.1:25\nmilter a unix:rel/path\n", "2: milter: 'unix:rel/path'");
	expect_error("listen mx 127.0.0.1:25\nmilter a inet:127.0.0.1:1 timeout=0\n", "2: milter: 'timeout=0'");
	expect_error("listen mx 127.0.0.1:25\nmilter a inet:127.0.0.1:1 default_action=discard\n",
	    "2: milter: unknown option");
	expect_error("listen mx 127.0.0.1:25\nmilter a inet:127.0.0.1:1 spam=maybe\n",
	    "2: milter: unknown option 'spam=maybe'");
	expect_error("listen mx 127.0.0.1:25\nmilter a inet:127.0.0.1:1 spam=yes spam=no\n",
	    "2: milter: spam= is given twice");
	expect_error("listen mx 127.0.0.1:25\nmilter a inet:127.0.0.1:1 timeout=1 timeout=2\n",
	    "2: milter: timeout= is given twice");
	expect_error("listen mx 127.0.0.1:25\nmilter a inet:127.0.0.1:1\nmilter a inet:127.0.0.1:2\n",
	    "3: milter: a is defined twice");
	expect_error("listen mx 127.0.0.1:25 milters=a,,b\n", "1: milter a is not defined");
	expect_error("listen mx 127.0.0.1:25 milters=\n", "1: listen: no milter name");
	expect_error("listen mx 127.0.0.1:25 bogus=1\n", "1: listen: unknown option 'bogus=1'");
}

/* listen http|https: their own array, no options; the HTTP options. */
static void
test_http_listeners(void **state)
{
	char err[256];
	struct conf *c = load_text("listen mx 127.0.0.1:25\nlisten http 127.0.0.1:8080\n"
	    "listen https [::1]:8443\nstate_db /srv/f/state.db\nhttp_public_url https://m.example:8443\n",
	    err, sizeof(err));

	(void)state;
	assert_non_null(c);
	assert_int_equal(c->nlisteners, 2);    /* mx, local */
	assert_int_equal(c->nhttp_listeners, 2);
	assert_int_equal(c->http_listeners[1].role, CONF_ROLE_HTTPS);
	assert_string_equal(conf_role_name(CONF_ROLE_HTTPS), "https");
	assert_int_equal(c->http_threads, 4);
	assert_int_equal(c->http_max_body, 36 * 1024 * 1024);
	assert_string_equal(c->http_admin_token_file, "/srv/f/admin.token");
	assert_string_equal(c->http_public_url, "https://m.example:8443");
	conf_free(c);
	expect_error("listen http 127.0.0.1:80 source=127.0.0.1\n", "1: usage: listen http ADDRESS:PORT");
	expect_error("listen http 127.0.0.1\n", "1: listen: bad address");
	expect_error("http_public_url https://m.example/\n", "http_public_url");
	expect_error("http_public_url ftp://m.example\n", "http_public_url");
	expect_error("http_threads 0\n", "1: http_threads: 0 is out of range [1, 64]");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_embedded_default),
		cmocka_unit_test(test_milters),
		cmocka_unit_test(test_options_and_units),
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_route_auth_verifies),
		cmocka_unit_test(test_tls_ca_file_checked),
		cmocka_unit_test(test_no_files_names_without_opening),
		cmocka_unit_test(test_restart_needed),
		cmocka_unit_test(test_errors_name_the_line),
		cmocka_unit_test(test_errors_name_line_and_cause),
		cmocka_unit_test(test_nul_and_long_lines),
		cmocka_unit_test(test_file_errors_have_no_line),
		cmocka_unit_test(test_every_scalar_option_once),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_open_relay_refused),
		cmocka_unit_test(test_no_listener_refused),
		cmocka_unit_test(test_http_listeners),
		cmocka_unit_test(test_cidr_match),
		cmocka_unit_test(test_relay_decision),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
