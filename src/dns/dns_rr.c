/*
 * dns_rr.c - the answer section of a DNS response as plain records (A,
 * AAAA, MX, PTR, TXT), for checks that need records as published: SPF
 * evaluation, DKIM keys and DMARC policies (ferryctl domain check).
 * STANDARDS: RFC 1035 3.2, 3.3, 4.1 (message format, TXT character-strings,
 * compression), RFC 3596 (AAAA), RFC 7208 3.3 (TXT strings are joined).
 * SECURITY: the message is untrusted: every offset is checked against
 * alen before it is read, compressed names are expanded by c-ares (which
 * bounds pointer loops) and must end where their RDATA ends, at most
 * DNS_RR_MAX records and DNS_TXT_MAX octets per TXT record are kept, and a
 * malformed message is an error, not a guess.
 */
#include "dns/dns.h"

#include <ares.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DNS_HEADER_LEN 12

/* A read cursor over the message; any read past the end sets bad. */
struct dns_cur {
	const unsigned char *buf;
	size_t               len, off;
	bool                 bad;
};

static unsigned
dns_cur_u16(struct dns_cur *c)
{
	if (c->bad || c->len - c->off < 2) {
		c->bad = true;
		return 0;
	}
	c->off += 2;
	return (unsigned)c->buf[c->off - 2] << 8 | c->buf[c->off - 1];
}

/* Step over a (possibly compressed) name without following pointers. */
static void
dns_cur_name_skip(struct dns_cur *c)
{
	while (!c->bad) {
		if (c->off >= c->len) {
			c->bad = true;
			return;
		}
		unsigned char l = c->buf[c->off];
		if ((l & 0xc0) == 0xc0) {           /* pointer: 2 octets end the name */
			c->off += 2;
			c->bad = c->off > c->len;
			return;
		}
		if ((l & 0xc0) != 0) {              /* 0x40, 0x80: reserved label types */
			c->bad = true;
			return;
		}
		c->off += 1u + l;
		if (l == 0)
			return;
	}
}

/* The name at rdata (compression pointers may point anywhere in the
 * message) as text without the trailing dot; -1 when malformed, too long,
 * or when its encoding does not end exactly at the end of the RDATA
 * (room octets): c-ares reads up to alen and would take the next record's
 * octets as labels. */
static int
dns_rr_name_copy(const unsigned char *abuf, size_t alen, const unsigned char *at, size_t room,
    struct dns_rr *rr)
{
	char *name = NULL;
	long enclen;
	size_t n;

	if (room == 0 || alen > INT32_MAX || ares_expand_name(at, abuf, (int)alen, &name, &enclen) != ARES_SUCCESS)
		return -1;
	n = strlen(name);
	if (enclen <= 0 || (size_t)enclen != room || n > DNS_NAME_MAX) {
		ares_free_string(name);
		return -1;
	}
	memcpy(rr->data, name, n + 1);
	rr->len = n;
	ares_free_string(name);
	return 0;
}

/* TXT RDATA: one or more <length><octets> strings, joined (RFC 7208 3.3). */
static int
dns_rr_txt_copy(const unsigned char *rd, size_t rdlen, struct dns_rr *rr)
{
	size_t off = 0;

	rr->len = 0;
	while (off < rdlen) {
		size_t l = rd[off++];
		if (l > rdlen - off)
			return -1;
		if (l > DNS_TXT_MAX - rr->len)
			return 1;                       /* too long: the caller drops it */
		memcpy(rr->data + rr->len, rd + off, l);
		rr->len += l;
		off += l;
	}
	rr->data[rr->len] = '\0';
	return 0;
}

/* One record's RDATA into rr: 0 kept, 1 dropped (over a limit), -1 malformed. */
static int
dns_rr_data_copy(const unsigned char *abuf, size_t alen, size_t off, size_t rdlen, int type,
    struct dns_rr *rr)
{
	const unsigned char *rd = abuf + off;

	memset(rr, 0, offsetof(struct dns_rr, data) + 1);
	switch (type) {
	case DNS_T_A:
	case DNS_T_AAAA:
		if (rdlen != (type == DNS_T_A ? 4u : 16u))
			return -1;
		memcpy(rr->data, rd, rdlen);
		rr->data[rdlen] = '\0';
		rr->len = rdlen;
		return 0;
	case DNS_T_MX:
		if (rdlen < 3)
			return -1;
		rr->pref = (unsigned)rd[0] << 8 | rd[1];
		return dns_rr_name_copy(abuf, alen, rd + 2, rdlen - 2, rr);
	case DNS_T_PTR:
		return dns_rr_name_copy(abuf, alen, rd, rdlen, rr);
	case DNS_T_TXT:
		return dns_rr_txt_copy(rd, rdlen, rr);
	default:
		return 1;
	}
}

/* Parse the answer section, keeping records of type (CNAMEs and others are
 * stepped over: the server has followed the chain). */
int
dns_answer_parse(const unsigned char *abuf, size_t alen, int type, struct dns_rrset *out)
{
	struct dns_cur c = { abuf, alen, 0, false };
	unsigned qd, an;

	out->type = type;
	out->n = 0;
	if (alen < DNS_HEADER_LEN)
		return -1;
	c.off = 4;
	qd = dns_cur_u16(&c);
	an = dns_cur_u16(&c);
	c.off = DNS_HEADER_LEN;
	for (unsigned i = 0; i < qd && !c.bad; i++) {
		dns_cur_name_skip(&c);
		dns_cur_u16(&c);                    /* QTYPE */
		dns_cur_u16(&c);                    /* QCLASS */
	}
	for (unsigned i = 0; i < an && !c.bad; i++) {
		dns_cur_name_skip(&c);
		unsigned rtype = dns_cur_u16(&c);
		dns_cur_u16(&c);                    /* CLASS */
		dns_cur_u16(&c);                    /* TTL, two halves */
		dns_cur_u16(&c);
		size_t rdlen = dns_cur_u16(&c);
		if (c.bad || rdlen > alen - c.off)
			return -1;
		if ((int)rtype == type && out->n < DNS_RR_MAX) {
			int rc = dns_rr_data_copy(abuf, alen, c.off, rdlen, type, &out->rr[out->n]);
			if (rc < 0)
				return -1;
			if (rc == 0)
				out->n++;
		}
		c.off += rdlen;
	}
	return c.bad ? -1 : 0;
}
