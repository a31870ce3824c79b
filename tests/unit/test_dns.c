/* test_dns.c - the parts of the resolver that need no DNS server: server
 * list parsing, IP literals, name validation, status names, and that a dead
 * server is a bounded temporary failure. Lookups against a real server are
 * in tests/integration/test_dns.py. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dns/dns.h"

/* Nothing answers DNS on the discard port: no test query leaves loopback. */
#define DEAD_SERVER "127.0.0.1:9"

static struct dns_resolver *
resolver(void)
{
	char err[256] = "";
	struct dns_resolver *r = dns_resolver_new(DEAD_SERVER, 500, err, sizeof(err));

	assert_non_null(r);
	return r;
}

static void
test_status_names(void **state)
{
	(void)state;
	assert_string_equal(dns_status_name(DNS_OK), "ok");
	assert_string_equal(dns_status_name(DNS_NXDOMAIN), "nxdomain");
	assert_string_equal(dns_status_name(DNS_NODATA), "nodata");
	assert_string_equal(dns_status_name(DNS_NULLMX), "nullmx");
	assert_string_equal(dns_status_name(DNS_TEMPFAIL), "tempfail");
}

static void
test_good_servers_accepted(void **state)
{
	static const char *good[] = {
		"127.0.0.1", "127.0.0.1:5353", "::1", "[::1]", "[::1]:53",
		"127.0.0.1,127.0.0.2:99,[::1]:5300", "127.0.0.1:65535",
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		err[0] = '\0';
		struct dns_resolver *r = dns_resolver_new(good[i], 1000, err, sizeof(err));
		if (r == NULL)
			fail_msg("%s rejected: %s", good[i], err);
		dns_resolver_free(r);
	}
}

static void
test_bad_servers_rejected(void **state)
{
	static const char *bad[] = {
		"", ",", "garbage", "1.2.3", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
		"127.0.0.1:99999", "127.0.0.1:abc", "127.0.0.1:+53", "127.0.0.1,", ",127.0.0.1",
		" 127.0.0.1", "127.0.0.1 ", "[::1", "[::1]x", "[::1]:", "[127.0.0.1]:53",
		"localhost", "::1:53:x", "1,2,3,4,5,6,7,8,9",
		"127.0.0.1,127.0.0.1,127.0.0.1,127.0.0.1,127.0.0.1,127.0.0.1,127.0.0.1,127.0.0.1,127.0.0.1",
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		struct dns_resolver *r = dns_resolver_new(bad[i], 1000, err, sizeof(err));
		if (r != NULL)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_non_null(strstr(err, "bad DNS server list"));
	}
	assert_null(dns_resolver_new(DEAD_SERVER, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "timeout"));
}

static void
test_ip_literal_needs_no_dns(void **state)
{
	struct dns_resolver *r = resolver();
	struct dns_host h;
	char err[256] = "", ip[INET6_ADDRSTRLEN];

	(void)state;
	assert_int_equal(dns_host_lookup(r, "192.0.2.7", false, &h, err, sizeof(err)), DNS_OK);
	assert_string_equal(h.name, "192.0.2.7");
	assert_int_equal(h.naddrs, 1);
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&h.addrs[0];
	assert_int_equal(s4->sin_family, AF_INET);
	assert_int_equal(s4->sin_port, 0);
	assert_string_equal(inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip)), "192.0.2.7");

	assert_int_equal(dns_host_lookup(r, "2001:db8::25", false, &h, err, sizeof(err)), DNS_OK);
	assert_int_equal(h.naddrs, 1);
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&h.addrs[0];
	assert_int_equal(s6->sin6_family, AF_INET6);
	assert_int_equal(s6->sin6_port, 0);
	assert_string_equal(inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip)), "2001:db8::25");
	dns_resolver_free(r);
}

static void
test_bad_names_never_queried(void **state)
{
	static const char *bad[] = {
		"", ".", "a..b", ".a", "bad name", "a\\.b", "-a.test", "a\nb.test", "a\"b.test",
		"caf\xc3\xa9.test",
	};
	struct dns_resolver *r = resolver();
	struct dns_host hosts[DNS_HOSTS_MAX], h;
	char err[256], longname[300], longlabel[80];
	size_t n = 99;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(dns_mx_lookup(r, bad[i], false, hosts, DNS_HOSTS_MAX, &n, err, sizeof(err)),
		    DNS_NXDOMAIN);
		assert_int_equal(n, 0);
		assert_non_null(strstr(err, "invalid domain name"));
		assert_int_equal(dns_host_lookup(r, bad[i], false, &h, err, sizeof(err)), DNS_NXDOMAIN);
		assert_non_null(strstr(err, "invalid host name"));
	}
	memset(longlabel, 'a', 64);
	strcpy(longlabel + 64, ".test");
	assert_int_equal(dns_mx_lookup(r, longlabel, false, hosts, DNS_HOSTS_MAX, &n, err, sizeof(err)),
	    DNS_NXDOMAIN);
	for (size_t i = 0; i < 256; i += 2)
		memcpy(longname + i, "a.", 2);
	longname[256] = '\0';
	assert_int_equal(dns_mx_lookup(r, longname, false, hosts, DNS_HOSTS_MAX, &n, err, sizeof(err)),
	    DNS_NXDOMAIN);
	dns_resolver_free(r);
}

static void
test_dead_server_is_bounded_tempfail(void **state)
{
	struct dns_resolver *r = resolver();
	struct dns_host hosts[DNS_HOSTS_MAX], h;
	struct timespec a, b;
	char err[256] = "";
	size_t n = 99;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(dns_mx_lookup(r, "example.test", true, hosts, DNS_HOSTS_MAX, &n, err, sizeof(err)),
	    DNS_TEMPFAIL);
	assert_int_equal(n, 0);
	assert_non_null(strstr(err, "example.test: MX lookup: "));
	assert_int_equal(dns_host_lookup(r, "mx.example.test", true, &h, err, sizeof(err)), DNS_TEMPFAIL);
	assert_non_null(strstr(err, "mx.example.test: "));
	clock_gettime(CLOCK_MONOTONIC, &b);
	/* two lookups of at most 500 ms each, with slack for a loaded machine */
	assert_true(b.tv_sec - a.tv_sec < 3);
	dns_resolver_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_good_servers_accepted),
		cmocka_unit_test(test_bad_servers_rejected),
		cmocka_unit_test(test_ip_literal_needs_no_dns),
		cmocka_unit_test(test_bad_names_never_queried),
		cmocka_unit_test(test_dead_server_is_bounded_tempfail),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
