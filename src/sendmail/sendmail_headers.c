/*
 * sendmail_headers.c - ferry-sendmail's header section: fields as read,
 * the RFC 5322 address-list parser behind -t and command-line recipients,
 * Bcc: removal.
 * STANDARDS: RFC 5322 2.2, 3.2 (tokens, comments, quoted strings), 3.4
 * (address lists, groups, obs-route), 3.6.3, 3.6.6; RFC 6532 (UTF-8 in
 * atoms); RFC 5321 4.1.2 (the forward-paths we hand to ferryd).
 * SECURITY: input is untrusted text. Parsing works on {pointer, length}
 * slices of the unfolded value, never on NUL-terminated assumptions; the
 * only way out for an address is through smtp_path_parse.
 */
#include "sendmail/sendmail_headers.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/smtp_parse.h"
#include "util/xmalloc.h"

/* ---- the header section ------------------------------------------------ */

static bool
sendmail_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Length of the field name when line starts "name:" (RFC 5322 3.6.8
 * ftext, obs-optional WSP before the colon), else 0. */
static size_t
sendmail_field_name_len(const char *line, size_t len, size_t *colon)
{
	size_t i = 0, n;

	while (i < len && (unsigned char)line[i] > 32 && (unsigned char)line[i] < 127 && line[i] != ':')
		i++;
	n = i;
	while (i < len && sendmail_wsp(line[i]))
		i++;
	if (n == 0 || i >= len || line[i] != ':')
		return 0;
	if (colon != NULL)
		*colon = i;
	return n;
}

bool
sendmail_headers_line_is_header(const struct sendmail_headers *h, const char *line, size_t len)
{
	if (len > 0 && sendmail_wsp(line[0]))
		return h->n > 0;
	return sendmail_field_name_len(line, len, NULL) > 0;
}

/* Append to a field's text, growing it geometrically: a field folded over
 * many short lines must not cost a copy per line. */
static void
sendmail_field_append(struct sendmail_field *f, const char *s, size_t len)
{
	if (f->len + len + 1 > f->cap) {
		f->cap = (f->len + len + 1) * 2;
		f->text = xrealloc(f->text, f->cap);
	}
	memcpy(f->text + f->len, s, len);
	f->len += len;
	f->text[f->len] = '\0';
}

enum sendmail_hdr_add
sendmail_headers_line_add(struct sendmail_headers *h, const char *line, size_t len)
{
	struct sendmail_field *f;
	size_t namelen;

	if (len > SENDMAIL_HDR_MAX || len + 2 > SENDMAIL_HDR_MAX - h->bytes)
		return sendmail_headers_line_is_header(h, line, len) ? SENDMAIL_HDR_TOO_BIG :
		    SENDMAIL_HDR_NOT_HEADER;
	if (len > 0 && sendmail_wsp(line[0])) {
		if (h->n == 0)
			return SENDMAIL_HDR_NOT_HEADER;
		f = &h->v[h->n - 1];
		sendmail_field_append(f, "\r\n", 2);
		sendmail_field_append(f, line, len);
		h->bytes += len + 2;
		return SENDMAIL_HDR_ADDED;
	}
	namelen = sendmail_field_name_len(line, len, NULL);
	if (namelen == 0)
		return SENDMAIL_HDR_NOT_HEADER;
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 32;
		h->v = xrealloc(h->v, h->cap * sizeof(*h->v));
	}
	f = &h->v[h->n++];
	f->text = NULL;
	f->len = f->cap = 0;
	sendmail_field_append(f, line, len);
	f->namelen = namelen;
	f->removed = false;
	h->bytes += len + 2;
	return SENDMAIL_HDR_ADDED;
}

static bool
sendmail_field_is(const struct sendmail_field *f, const char *name)
{
	size_t n = strlen(name);

	return !f->removed && f->namelen == n && strncasecmp(f->text, name, n) == 0;
}

bool
sendmail_headers_has(const struct sendmail_headers *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (sendmail_field_is(&h->v[i], name))
			return true;
	return false;
}

size_t
sendmail_headers_remove(struct sendmail_headers *h, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < h->n; i++)
		if (sendmail_field_is(&h->v[i], name)) {
			h->v[i].removed = true;
			n++;
		}
	return n;
}

char *
sendmail_field_value(const struct sendmail_field *f, size_t *len)
{
	size_t colon = 0, n = 0;
	char *v;

	sendmail_field_name_len(f->text, f->len, &colon);
	v = xmalloc(f->len - colon);
	for (size_t i = colon + 1; i < f->len; i++) {
		if (f->text[i] == '\r' && i + 1 < f->len && f->text[i + 1] == '\n') {
			i++;   /* unfold: CRLF before WSP goes, the WSP stays */
			continue;
		}
		v[n++] = f->text[i];
	}
	v[n] = '\0';
	*len = n;
	return v;
}

void
sendmail_headers_free(struct sendmail_headers *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->v[i].text);
	free(h->v);
	memset(h, 0, sizeof(*h));
}

/* ---- tokens (RFC 5322 3.2) --------------------------------------------- */

enum sendmail_tok_kind { SM_TOK_ATOM, SM_TOK_QUOTED, SM_TOK_LITERAL, SM_TOK_SPECIAL };

/* A slice of the unfolded value; comments and whitespace are not tokens. */
struct sendmail_tok {
	enum sendmail_tok_kind kind;
	const char            *s;
	size_t                 len;
};

struct sendmail_toks {
	struct sendmail_tok *v;
	size_t               n, cap;
};

static void
sendmail_tok_push(struct sendmail_toks *t, enum sendmail_tok_kind kind, const char *s, size_t len)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
	}
	t->v[t->n++] = (struct sendmail_tok){ kind, s, len };
}

/* atext plus UTF-8 octets (RFC 6532 3.2); smtp_path_parse later insists
 * the UTF-8 of an address is well-formed. */
static bool
sendmail_atext(unsigned char c)
{
	if (c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* End (one past the closing octet) of a quoted string or domain literal
 * starting at s[i], or 0 when it is not closed. quoted-pair skips. */
static size_t
sendmail_quoted_end(const char *s, size_t len, size_t i, char close)
{
	for (size_t j = i + 1; j < len; j++) {
		if (s[j] == '\\')
			j++;
		else if (s[j] == close)
			return j + 1;
	}
	return 0;
}

/* End of a (possibly nested) comment starting at s[i], or 0. */
static size_t
sendmail_comment_end(const char *s, size_t len, size_t i)
{
	size_t depth = 0;

	for (size_t j = i; j < len; j++) {
		if (s[j] == '\\')
			j++;
		else if (s[j] == '(')
			depth++;
		else if (s[j] == ')' && --depth == 0)
			return j + 1;
	}
	return 0;
}

/* Split s into tokens; returns NULL or why it cannot be an address list. */
static const char *
sendmail_tokenize(const char *s, size_t len, struct sendmail_toks *t)
{
	size_t i = 0, j;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];

		if (sendmail_wsp((char)c)) {
			i++;
		} else if (c == '(') {
			if ((j = sendmail_comment_end(s, len, i)) == 0)
				return "unbalanced parenthesis";
			i = j;
		} else if (c == '"' || c == '[') {
			if ((j = sendmail_quoted_end(s, len, i, c == '"' ? '"' : ']')) == 0)
				return c == '"' ? "unterminated quoted string" : "unterminated domain literal";
			sendmail_tok_push(t, c == '"' ? SM_TOK_QUOTED : SM_TOK_LITERAL, s + i, j - i);
			i = j;
		} else if (c != '\0' && strchr("<>@,;:.", c) != NULL) {
			sendmail_tok_push(t, SM_TOK_SPECIAL, s + i, 1);
			i++;
		} else if (sendmail_atext(c)) {
			for (j = i; j < len && sendmail_atext((unsigned char)s[j]); j++)
				;
			sendmail_tok_push(t, SM_TOK_ATOM, s + i, j - i);
			i = j;
		} else if (c < 32 || c == 127) {
			return "control character";
		} else {
			return "unexpected character";
		}
	}
	return NULL;
}

/* ---- address lists (RFC 5322 3.4) -------------------------------------- */

struct sendmail_alp {
	const struct sendmail_tok *t;
	size_t                     nt;
	const char                *domain;
	struct sendmail_rcpts     *out;
	char                      *err;
	size_t                     errlen;
};

static bool
sendmail_tok_is(const struct sendmail_tok *t, char c)
{
	return t->kind == SM_TOK_SPECIAL && t->s[0] == c;
}

/* "reason: text" where text is tokens [a, b) as written, printable only:
 * it goes to a terminal. */
static int
sendmail_alp_fail(struct sendmail_alp *p, const char *reason, size_t a, size_t b)
{
	char shown[80];
	size_t n = 0;

	if (a < b && b <= p->nt) {
		const char *s = p->t[a].s, *e = p->t[b - 1].s + p->t[b - 1].len;
		for (; s < e && n < sizeof(shown) - 4; s++)
			shown[n++] = (unsigned char)*s >= 32 && *s != 127 ? *s : '?';
		if (s < e)
			n += (size_t)snprintf(shown + n, sizeof(shown) - n, "...");
	}
	shown[n] = '\0';
	if (n > 0)
		snprintf(p->err, p->errlen, "%s: %s", reason, shown);
	else
		snprintf(p->err, p->errlen, "%s", reason);
	return -1;
}

static int
sendmail_rcpts_add(struct sendmail_rcpts *r, const struct smtp_path *path)
{
	if (r->n >= SENDMAIL_RCPT_MAX)
		return -1;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->v = xrealloc(r->v, r->cap * sizeof(*r->v));
	}
	r->v[r->n++] = xstrdup(path->addr);
	r->utf8 |= path->utf8;
	return 0;
}

/* addr-spec grammar over tokens: word *("." word) ["@" (dot-atom /
 * domain-literal)]. Concatenating tokens alone would turn "John Doe"
 * into "JohnDoe", so the order of tokens is checked here. */
enum sendmail_as { AS_WORD, AS_DOT_OR_AT, AS_DOMAIN, AS_DOM_DOT, AS_DOM_ATOM, AS_LITERAL, AS_BAD };

static enum sendmail_as
sendmail_addrspec_step(enum sendmail_as st, const struct sendmail_tok *t)
{
	switch (st) {
	case AS_WORD:
		return t->kind == SM_TOK_ATOM || t->kind == SM_TOK_QUOTED ? AS_DOT_OR_AT : AS_BAD;
	case AS_DOT_OR_AT:
		if (sendmail_tok_is(t, '.'))
			return AS_WORD;
		return sendmail_tok_is(t, '@') ? AS_DOMAIN : AS_BAD;
	case AS_DOMAIN:
		if (t->kind == SM_TOK_LITERAL)
			return AS_LITERAL;   /* complete: nothing may follow */
		return t->kind == SM_TOK_ATOM ? AS_DOM_DOT : AS_BAD;
	case AS_DOM_DOT:
		return sendmail_tok_is(t, '.') ? AS_DOM_ATOM : AS_BAD;
	case AS_DOM_ATOM:
		return t->kind == SM_TOK_ATOM ? AS_DOM_DOT : AS_BAD;
	default:
		return AS_BAD;
	}
}

/* One mailbox: tokens [a, b) are its addr-spec (inside the angle brackets
 * when there were some). */
static int
sendmail_alp_mailbox(struct sendmail_alp *p, size_t a, size_t b, bool angle)
{
	char buf[SMTP_PATH_MAX + 3];
	struct smtp_path path;
	size_t n = 1, used, a0 = a, dlen;
	enum sendmail_as st = AS_WORD;

	if (angle && a < b && sendmail_tok_is(&p->t[a], '@')) {
		/* obs-route "@a,@b:" is dropped, as RFC 5321 C says of routes */
		while (a < b && !sendmail_tok_is(&p->t[a], ':'))
			a++;
		if (a++ == b)
			return sendmail_alp_fail(p, "bad source route", a0, b);
	}
	if (a == b)
		return angle ? sendmail_alp_fail(p, "empty address <>", a0, b) : 0;
	buf[0] = '<';
	for (size_t i = a; i < b; i++) {
		st = sendmail_addrspec_step(st, &p->t[i]);
		if (st == AS_BAD)
			return sendmail_alp_fail(p, "bad address", a0, b);
		if (p->t[i].len > sizeof(buf) - 2 - n)
			return sendmail_alp_fail(p, "address too long", a0, b);
		memcpy(buf + n, p->t[i].s, p->t[i].len);
		n += p->t[i].len;
	}
	if (st == AS_WORD || st == AS_DOMAIN || st == AS_DOM_ATOM)
		return sendmail_alp_fail(p, "bad address", a0, b);
	if (st == AS_DOT_OR_AT) {   /* no domain: "user" means user@domain */
		if (p->domain == NULL)
			return sendmail_alp_fail(p, "address without a domain", a0, b);
		dlen = strlen(p->domain);
		if (dlen + 1 > sizeof(buf) - 2 - n)
			return sendmail_alp_fail(p, "address too long", a0, b);
		buf[n++] = '@';
		memcpy(buf + n, p->domain, dlen);
		n += dlen;
	}
	buf[n++] = '>';
	if (smtp_path_parse(buf, n, false, false, &path, &used) != NULL || used != n)
		return sendmail_alp_fail(p, "invalid address", a0, b);
	if (sendmail_rcpts_add(p->out, &path) < 0)
		return sendmail_alp_fail(p, "too many recipients", 0, 0);
	return 0;
}

/* Walk the list: ',' separates addresses, "phrase:" opens a group and ';'
 * closes it, "<...>" holds the address of a name-addr. */
static int
sendmail_alp_run(struct sendmail_alp *p)
{
	size_t start = 0, lt = 0, gt = 0;
	bool in_angle = false, angle = false, in_group = false;

	for (size_t i = 0; i <= p->nt; i++) {
		const struct sendmail_tok *t = i < p->nt ? &p->t[i] : NULL;

		if (t != NULL && in_angle) {
			if (sendmail_tok_is(t, '<'))
				return sendmail_alp_fail(p, "nested <", start, i + 1);
			if (sendmail_tok_is(t, '>')) {
				in_angle = false;
				gt = i;
			}
			continue;
		}
		if (t == NULL || sendmail_tok_is(t, ',') || (in_group && sendmail_tok_is(t, ';'))) {
			if (in_angle)
				return sendmail_alp_fail(p, "missing >", start, i);
			if ((angle ? sendmail_alp_mailbox(p, lt + 1, gt, true) :
			    sendmail_alp_mailbox(p, start, i, false)) < 0)
				return -1;
			if (t != NULL && sendmail_tok_is(t, ';'))
				in_group = false;
			start = i + 1;
			angle = false;
			continue;
		}
		if (angle)
			return sendmail_alp_fail(p, "text after >", start, i + 1);
		if (sendmail_tok_is(t, ';'))
			return sendmail_alp_fail(p, "; outside a group", start, i + 1);
		if (sendmail_tok_is(t, ':')) {
			if (in_group)
				return sendmail_alp_fail(p, "nested group", start, i + 1);
			in_group = true;   /* the group's display name is dropped */
			start = i + 1;
		} else if (sendmail_tok_is(t, '<')) {
			in_angle = angle = true;
			lt = i;
		} else if (sendmail_tok_is(t, '>')) {
			return sendmail_alp_fail(p, "> without <", start, i + 1);
		}
	}
	return 0;   /* a group left open at the end is tolerated */
}

int
sendmail_addrlist_parse(const char *s, size_t len, const char *domain,
    struct sendmail_rcpts *out, char *err, size_t errlen)
{
	struct sendmail_toks t = { 0 };
	struct sendmail_alp p = { .domain = domain, .out = out, .err = err, .errlen = errlen };
	const char *why = sendmail_tokenize(s, len, &t);
	int rc;

	if (why != NULL) {
		snprintf(err, errlen, "%s", why);
		free(t.v);
		return -1;
	}
	p.t = t.v;
	p.nt = t.n;
	rc = sendmail_alp_run(&p);
	free(t.v);
	return rc;
}

/* ---- -t and Bcc: ------------------------------------------------------- */

static const char *const sendmail_dest_plain[] = { "To", "Cc", "Bcc" };
static const char *const sendmail_dest_resent[] = { "Resent-To", "Resent-Cc", "Resent-Bcc" };

static bool
sendmail_field_in(const struct sendmail_field *f, const char *const names[3])
{
	for (size_t i = 0; i < 3; i++)
		if (sendmail_field_is(f, names[i]))
			return true;
	return false;
}

int
sendmail_headers_rcpts(const struct sendmail_headers *h, const char *domain,
    struct sendmail_rcpts *out, char *err, size_t errlen)
{
	const char *const *names = sendmail_dest_plain;
	char why[200];

	for (size_t i = 0; i < h->n; i++)
		if (sendmail_field_in(&h->v[i], sendmail_dest_resent))
			names = sendmail_dest_resent;
	for (size_t i = 0; i < h->n; i++) {
		const struct sendmail_field *f = &h->v[i];
		size_t len;
		char *v;
		int rc;

		if (!sendmail_field_in(f, names))
			continue;
		v = sendmail_field_value(f, &len);
		rc = sendmail_addrlist_parse(v, len, domain, out, why, sizeof(why));
		free(v);
		if (rc < 0) {
			snprintf(err, errlen, "%.*s: header: %s", (int)f->namelen, f->text, why);
			return -1;
		}
	}
	return 0;
}

void
sendmail_headers_bcc_remove(struct sendmail_headers *h)
{
	sendmail_headers_remove(h, "Bcc");
	sendmail_headers_remove(h, "Resent-Bcc");
}

struct sendmail_rcpt_key {
	const char *addr;
	size_t      pos;
};

static int
sendmail_rcpt_key_cmp(const void *a, const void *b)
{
	const struct sendmail_rcpt_key *x = a, *y = b;
	int c = strcmp(x->addr, y->addr);

	if (c != 0)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

void
sendmail_rcpts_dedup(struct sendmail_rcpts *r)
{
	struct sendmail_rcpt_key *k;
	size_t n = 0;

	if (r->n < 2)
		return;
	k = xcalloc(r->n, sizeof(*k));
	for (size_t i = 0; i < r->n; i++)
		k[i] = (struct sendmail_rcpt_key){ r->v[i], i };
	qsort(k, r->n, sizeof(*k), sendmail_rcpt_key_cmp);
	/* Sorted by address then position: a repeat follows its first use.
	 * Mark first, free after: later comparisons still read the strings. */
	for (size_t i = r->n - 1; i > 0; i--)
		if (strcmp(k[i].addr, k[i - 1].addr) == 0)
			k[i].addr = NULL;
	for (size_t i = 0; i < r->n; i++)
		if (k[i].addr == NULL) {
			free(r->v[k[i].pos]);
			r->v[k[i].pos] = NULL;
		}
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i] != NULL)
			r->v[n++] = r->v[i];
	r->n = n;
	free(k);
}

void
sendmail_rcpts_free(struct sendmail_rcpts *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i]);
	free(r->v);
	memset(r, 0, sizeof(*r));
}
