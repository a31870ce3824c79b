/*
 * milter_proto.c - encode milter commands and decode milter replies
 * (sendmail milter protocol version 6; see milter_proto.h).
 * SECURITY: replies come from another process and are decoded against
 * their exact length: every string must end with its NUL inside the
 * packet, nothing may follow the last field, header names and values and
 * reply texts must be safe to put on an SMTP line or into a header section
 * (no bare CR or LF; a folded value's new lines start with white space).
 */
#include "milter/milter_proto.h"

#include <stdio.h>
#include <string.h>

#define MILTER_HDR_VALUE_MAX (16 * 1024)

void
milter_pkt_begin(struct milter_pkt *p, enum milter_cmd cmd)
{
	p->len = 4;
	p->overflow = false;
	p->buf[p->len++] = (unsigned char)cmd;
}

void
milter_pkt_raw(struct milter_pkt *p, const void *data, size_t len)
{
	if (p->overflow || len > sizeof(p->buf) - p->len) {
		p->overflow = true;
		return;
	}
	memcpy(p->buf + p->len, data, len);
	p->len += len;
}

void
milter_pkt_u8(struct milter_pkt *p, unsigned v)
{
	unsigned char b = (unsigned char)v;

	milter_pkt_raw(p, &b, 1);
}

void
milter_pkt_u16(struct milter_pkt *p, unsigned v)
{
	unsigned char b[2] = { (unsigned char)(v >> 8), (unsigned char)v };

	milter_pkt_raw(p, b, 2);
}

void
milter_pkt_u32(struct milter_pkt *p, uint32_t v)
{
	unsigned char b[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
		(unsigned char)(v >> 8), (unsigned char)v };

	milter_pkt_raw(p, b, 4);
}

void
milter_pkt_str(struct milter_pkt *p, const char *s, size_t len)
{
	if (memchr(s, '\0', len) != NULL) {
		p->overflow = true;   /* the filter would read a shorter string */
		return;
	}
	milter_pkt_raw(p, s, len);
	milter_pkt_u8(p, 0);
}

int
milter_pkt_end(struct milter_pkt *p)
{
	uint32_t n = (uint32_t)(p->len - 4);

	if (p->overflow)
		return -1;
	p->buf[0] = (unsigned char)(n >> 24);
	p->buf[1] = (unsigned char)(n >> 16);
	p->buf[2] = (unsigned char)(n >> 8);
	p->buf[3] = (unsigned char)n;
	return 0;
}

long
milter_len_decode(const unsigned char hdr[4])
{
	uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];

	if (n == 0 || n > MILTER_PACKET_MAX)
		return -1;
	return (long)n;
}

/* A sticky cursor over a reply's data. */
struct milter_cur {
	const unsigned char *p, *end;
	bool                 bad;
};

static uint32_t
milter_cur_u32(struct milter_cur *c)
{
	uint32_t v;

	if (c->bad || c->end - c->p < 4) {
		c->bad = true;
		return 0;
	}
	v = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 | (uint32_t)c->p[2] << 8 | c->p[3];
	c->p += 4;
	return v;
}

static const char *
milter_cur_str(struct milter_cur *c)
{
	const unsigned char *nul;
	const char *s;

	if (c->bad || (nul = memchr(c->p, '\0', (size_t)(c->end - c->p))) == NULL) {
		c->bad = true;
		return "";
	}
	s = (const char *)c->p;
	c->p = nul + 1;
	return s;
}

/* Append len octets of reply text to r->buf at at, as they may go onto
 * an SMTP line: 8-bit and control octets as '?', "%%" (sendmail's escape
 * for a literal '%') as '%', cut at MILTER_REPLY_MAX. The new length. */
static size_t
milter_text_clean(struct milter_reply *r, size_t at, const char *s, size_t len)
{
	for (size_t i = 0; i < len && at < MILTER_REPLY_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%' && i + 1 < len && s[i + 1] == '%')
			i++;
		r->buf[at++] = c < 0x20 || c > 0x7e ? '?' : (char)c;
	}
	r->buf[at] = '\0';
	return at;
}

/* RFC 5322 2.2 field name: printable, no colon, no space. */
static bool
milter_hdr_name_ok(const char *s)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s > 0x7e || *s == ':' || n >= 256)
			return false;
	return n > 0;
}

/* A value may be folded (a line break followed by white space); any other
 * CR or LF would start a header of the filter's invention. */
static bool
milter_hdr_value_ok(const char *s)
{
	size_t n = strlen(s);

	if (n > MILTER_HDR_VALUE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r' && s[i + 1] != '\n')
			return false;
		if (s[i] == '\n' && s[i + 1] != ' ' && s[i + 1] != '\t')
			return false;
	}
	return true;
}

/* A line "4xx ...", "5xx-..." or "5xx": the code, or -1. */
static int
milter_replycode_parse(const char *s)
{
	if (s[0] < '4' || s[0] > '5' || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9' ||
	    (s[3] != ' ' && s[3] != '-' && s[3] != '\0' && s[3] != '\r' && s[3] != '\n'))
		return -1;
	return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

/* The enhanced code ("5.7.1") that opens a line's text: its length, or 0. */
static size_t
milter_xcode_len(const char *t, size_t len)
{
	size_t n = strcspn(t, " \r\n");

	if (n > len)
		n = len;
	if (n < 5 || n > 11 || (t[0] != '2' && t[0] != '4' && t[0] != '5') || t[1] != '.')
		return 0;
	return n;
}

/* "550-5.7.1 first\r\n550 5.7.1 second": lines that share one 4xx or 5xx
 * code become one line, "550 5.7.1 first second" (an enhanced code that a
 * later line repeats is dropped). Lines with different codes are an error. */
static int
milter_replycode_decode(struct milter_reply *r, const char *s, const char **why)
{
	size_t at = 0, xlen = 0;

	if ((r->code = milter_replycode_parse(s)) < 0) {
		*why = "reply code: not 4xx or 5xx";
		return -1;
	}
	at = (size_t)snprintf(r->buf, sizeof(r->buf), "%d", r->code);
	for (bool first = true; *s != '\0'; first = false) {
		size_t len = strcspn(s, "\r\n"), tlen;
		const char *t = s + 3;
		if (milter_replycode_parse(s) != r->code) {
			*why = "reply code: lines with different codes";
			return -1;
		}
		if (*t == ' ' || *t == '-')
			t++;
		tlen = len - (size_t)(t - s);
		if (first)
			xlen = milter_xcode_len(t, tlen);
		else if (xlen > 0 && milter_xcode_len(t, tlen) == xlen &&
		    strncmp(t, r->buf + 4, xlen) == 0) {
			t += xlen;
			tlen -= xlen;
			while (tlen > 0 && *t == ' ') {
				t++;
				tlen--;
			}
		}
		if (tlen > 0)
			at = milter_text_clean(r, at, " ", 1);
		at = milter_text_clean(r, at, t, tlen);
		s += len;
		if (*s == '\r')
			s++;
		if (*s == '\n')
			s++;
	}
	r->text = r->buf;
	return 0;
}

static int
milter_header_decode(struct milter_cur *c, struct milter_reply *r, bool indexed, const char **why)
{
	if (indexed)
		r->index = milter_cur_u32(c);
	r->name = milter_cur_str(c);
	r->value = milter_cur_str(c);
	if (c->bad) {
		*why = "header edit: truncated";
		return -1;
	}
	if (!milter_hdr_name_ok(r->name) || !milter_hdr_value_ok(r->value)) {
		*why = "header edit: bad name or value";
		return -1;
	}
	return 0;
}

/* A reply code or a quarantine reason. Its words are the filter's and only
 * made safe, never a reason to fail the filter (which could turn its
 * refusal into its default action). */
static int
milter_text_decode(struct milter_cur *c, struct milter_reply *r, const char **why)
{
	const char *s = milter_cur_str(c);

	if (c->bad) {
		*why = "reply text: truncated";
		return -1;
	}
	if (r->kind == MILTER_R_REPLYCODE)
		return milter_replycode_decode(r, s, why);
	milter_text_clean(r, 0, s, strlen(s));
	r->text = r->buf;
	return 0;
}

static int
milter_body_decode(struct milter_cur *c, struct milter_reply *r, const char **why)
{
	switch (r->kind) {
	case MILTER_R_CONTINUE: case MILTER_R_ACCEPT: case MILTER_R_REJECT: case MILTER_R_TEMPFAIL:
	case MILTER_R_DISCARD: case MILTER_R_PROGRESS: case MILTER_R_SKIP:
		return 0;
	case MILTER_R_REPLYCODE: case MILTER_R_QUARANTINE:
		return milter_text_decode(c, r, why);
	case MILTER_R_ADDHEADER:
		return milter_header_decode(c, r, false, why);
	case MILTER_R_INSHEADER: case MILTER_R_CHGHEADER:
		return milter_header_decode(c, r, true, why);
	case MILTER_R_OPTNEG:
		r->version = milter_cur_u32(c);
		r->actions = milter_cur_u32(c);
		r->protocol = milter_cur_u32(c);
		c->p = c->end;   /* v6 macro lists may follow: not used */
		if (c->bad)
			*why = "option negotiation: truncated";
		return c->bad ? -1 : 0;
	default:
		*why = "a reply ferry did not offer or does not know";
		return -1;
	}
}

int
milter_reply_decode(const unsigned char *pkt, size_t len, struct milter_reply *r, const char **why)
{
	struct milter_cur c;

	memset(r, 0, sizeof(*r));
	r->text = r->name = r->value = "";
	if (len == 0 || len > MILTER_PACKET_MAX) {
		*why = "bad packet length";
		return -1;
	}
	r->kind = (enum milter_reply_kind)pkt[0];
	c.p = pkt + 1;
	c.end = pkt + len;
	c.bad = false;
	if (milter_body_decode(&c, r, why) < 0)
		return -1;
	if (c.p != c.end) {
		*why = "trailing octets after the reply";
		return -1;
	}
	return 0;
}
