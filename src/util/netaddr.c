/* netaddr.c - CIDR matching and address text forms for policy and logs. */
#include "util/netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
netaddr_net_parse(const char *s, struct netaddr_net *out)
{
	char buf[64];
	char *slash, *end;
	unsigned long prefix;
	unsigned max;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	memset(out, 0, sizeof(*out));
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else
		return -1;
	out->prefix = max;
	if (slash != NULL) {
		if (slash[1] == '\0')
			return -1;
		prefix = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || prefix > max)
			return -1;
		out->prefix = (unsigned)prefix;
	}
	return 0;
}

static bool
netaddr_prefix_equal(const unsigned char *a, const unsigned char *b, unsigned prefix)
{
	unsigned bytes = prefix / 8, bits = prefix % 8;
	unsigned char mask;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (bits == 0)
		return true;
	mask = (unsigned char)(0xff << (8 - bits));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

bool
netaddr_net_match(const struct netaddr_net *n, const struct sockaddr *sa)
{
	static const unsigned char v4mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };
	const struct sockaddr_in6 *s6;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		return n->family == AF_INET &&
		    netaddr_prefix_equal((const unsigned char *)&s4->sin_addr, n->addr, n->prefix);
	}
	if (sa->sa_family != AF_INET6)
		return false;
	s6 = (const struct sockaddr_in6 *)sa;
	if (n->family == AF_INET6)
		return netaddr_prefix_equal(s6->sin6_addr.s6_addr, n->addr, n->prefix);
	if (memcmp(s6->sin6_addr.s6_addr, v4mapped, 12) != 0)
		return false;
	return netaddr_prefix_equal(s6->sin6_addr.s6_addr + 12, n->addr, n->prefix);
}

bool
netaddr_net_too_wide(const struct netaddr_net *n)
{
	static const unsigned char v4mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };

	if (n->family == AF_INET6 && n->prefix >= 96 && memcmp(n->addr, v4mapped, 12) == 0)
		return n->prefix - 96 < 8;   /* IPv4-mapped: an IPv4 network */
	return (n->family == AF_INET && n->prefix < 8) || (n->family == AF_INET6 && n->prefix < 16);
}

const char *
netaddr_ntop(const struct sockaddr *sa, char *out, size_t outsz)
{
	const void *a;

	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	else {
		snprintf(out, outsz, "unknown");
		return out;
	}
	if (inet_ntop(sa->sa_family, a, out, (socklen_t)outsz) == NULL)
		snprintf(out, outsz, "unknown");
	return out;
}

static int
netaddr_port_parse(const char *s, unsigned short *port)
{
	char *end;
	unsigned long p = strtoul(s, &end, 10);

	if (*s == '\0' || *end != '\0' || p == 0 || p > 65535)
		return -1;
	*port = (unsigned short)p;
	return 0;
}

bool
netaddr_ip_parse(const char *s, struct sockaddr_storage *out, socklen_t *len)
{
	struct sockaddr_storage tmp;
	struct sockaddr_in *s4;
	struct sockaddr_in6 *s6;

	if (out == NULL)
		out = &tmp;
	memset(out, 0, sizeof(*out));
	s4 = (struct sockaddr_in *)out;
	s6 = (struct sockaddr_in6 *)out;
	if (inet_pton(AF_INET, s, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		if (len != NULL)
			*len = sizeof(*s4);
		return true;
	}
	if (inet_pton(AF_INET6, s, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		if (len != NULL)
			*len = sizeof(*s6);
		return true;
	}
	return false;
}

int
netaddr_listen_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon;
	unsigned short port;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
			return -1;
		memcpy(host, s + 1, close - s - 1);
		host[close - s - 1] = '\0';
		if (netaddr_port_parse(close + 2, &port) < 0 ||
		    inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -1;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*len = sizeof(*s6);
		return 0;
	}
	colon = strrchr(s, ':');
	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, colon - s);
	host[colon - s] = '\0';
	if (netaddr_port_parse(colon + 1, &port) < 0)
		return -1;
	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	*len = sizeof(*s4);
	if (host[0] == '\0' || strcmp(host, "*") == 0)
		s4->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
		return -1;
	return 0;
}
