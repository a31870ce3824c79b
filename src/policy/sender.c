/*
 * sender.c - From: lockdown for tenants' messages (see sender.h): find the
 * From: fields with explicit lengths, unfold each, parse it with GMime and
 * ask the caller about every mailbox's domain.
 * STANDARDS: RFC 5322 2.2, 3.4, 3.6, 4.5.2 (obsolete "From :" counted too);
 * RFC 2047; RFC 5890 (IDN domains compared in their A-label form).
 * SECURITY: hostile input; nothing here trusts a length it did not measure.
 * Parsing that disagrees with mail readers errs towards refusing: a field
 * GMime cannot read, one with no mailbox, one with an '@' outside quotes
 * and comments that GMime did not read as a mailbox ("a@x; b@y"), and a
 * NUL in a field name are refused; a name folded before its colon and a
 * first line starting with whitespace count as From: fields.
 */
#include "policy/sender.h"

#include <gmime/gmime.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xmalloc.h"

#define SENDER_GROUP_DEPTH 4

static pthread_once_t sender_once = PTHREAD_ONCE_INIT;

static void
sender_gmime_init(void)
{
	g_mime_init();
}

void
sender_init(void)
{
	pthread_once(&sender_once, sender_gmime_init);
}

void
sender_shutdown(void)
{
	/* Only when sender_init ran; g_mime_shutdown on an uninitialised
	 * library is harmless but pointless. */
	g_mime_shutdown();
}

static bool
sender_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Does the field starting at hdr[off] (len: the header section's end) open
 * a From: field? "From:" in any case, WSP allowed before the colon (RFC
 * 5322 4.5.2: obs-from), and folding too, since a reader that unfolds
 * first sees "From :" all the same. Sets *body to the offset after the
 * colon. A NUL in the name makes *nul true (a reader may drop it). */
static bool
sender_line_is_from(const char *hdr, size_t len, size_t off, size_t *body, bool *nul)
{
	size_t i = off;

	for (; i < len && hdr[i] != ':' && hdr[i] != '\n'; i++)
		if (hdr[i] == '\0')
			*nul = true;
	if (len - off < 5 || strncasecmp(hdr + off, "From", 4) != 0)
		return false;
	for (i = off + 4; i < len; i++) {
		if (sender_is_wsp(hdr[i]) || hdr[i] == '\r')
			continue;
		if (hdr[i] == '\n' && i + 1 < len && sender_is_wsp(hdr[i + 1]))
			continue;
		break;
	}
	if (i >= len || hdr[i] != ':')
		return false;
	*body = i + 1;
	return true;
}

/* The end of the line that starts at off: the offset of its LF, or len. */
static size_t
sender_line_end(const char *hdr, size_t len, size_t off)
{
	const char *lf = memchr(hdr + off, '\n', len - off);

	return lf != NULL ? (size_t)(lf - hdr) : len;
}

/* Line length without its CR (the LF is not counted by the caller). */
static size_t
sender_line_len(const char *hdr, size_t off, size_t eol)
{
	size_t n = eol - off;

	if (n > 0 && hdr[eol - 1] == '\r')
		n--;
	return n;
}

/* A first line that starts with whitespace continues no field; a reader
 * may skip the whitespace, so it is read as a field of its own. */
static size_t
sender_field_start(const char *hdr, size_t off, size_t eol)
{
	size_t i = off;

	if (off != 0)
		return off;
	while (i < eol && sender_is_wsp(hdr[i]))
		i++;
	return i;
}

static size_t
sender_from_fields_nul(const char *hdr, size_t len, struct sender_span *out, size_t max, bool *nul)
{
	size_t off = 0, count = 0;
	struct sender_span *cur = NULL;

	while (off < len) {
		size_t eol = sender_line_end(hdr, len, off);
		size_t n = sender_line_len(hdr, off, eol), body, start;

		if (n == 0)
			break;   /* the empty line: end of the header section */
		if (off != 0 && sender_is_wsp(hdr[off])) {
			if (cur != NULL && hdr + off + n >= cur->p)   /* folding: the field goes on */
				cur->len = off + n - (size_t)(cur->p - hdr);
		} else if ((start = sender_field_start(hdr, off, eol)) < len &&
		    sender_line_is_from(hdr, len, start, &body, nul)) {
			cur = count < max ? &out[count] : NULL;
			if (cur != NULL) {
				cur->p = hdr + body;
				cur->len = body <= off + n ? off + n - body : 0;
			}
			count++;
		} else
			cur = NULL;
		off = eol + 1;
	}
	return count;
}

size_t
sender_from_fields(const char *hdr, size_t len, struct sender_span *out, size_t max)
{
	bool nul = false;

	return sender_from_fields_nul(hdr, len, out, max, &nul);
}

char *
sender_field_unfold(const char *p, size_t len)
{
	char *out = xmalloc(len + 1);
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		if (c == '\r' && i + 2 < len && p[i + 1] == '\n' && sender_is_wsp(p[i + 2])) {
			i++;   /* RFC 5322 2.2.3: unfolding removes the CRLF only */
			continue;
		}
		if (c == '\0' || c == '\r' || c == '\n') {
			free(out);
			return NULL;
		}
		out[o++] = c;
	}
	out[o] = '\0';
	return out;
}

/* The mailbox's domain, lowercase, trailing dot dropped; false if none. */
static bool
sender_mailbox_domain(const char *addr, char *out, size_t outsz)
{
	const char *at = strrchr(addr, '@');
	size_t n;

	if (at == NULL || at[1] == '\0')
		return false;
	n = strlen(at + 1);
	if (n > 0 && at[n] == '.')
		n--;
	if (n == 0 || n >= outsz)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = at[1 + i];
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[n] = '\0';
	return true;
}

/* See sender.h. */
bool
sender_domain_alabel(const char *domain, char *out, size_t outsz)
{
	size_t n = strlen(domain);
	char *in = xmalloc(n + 3);
	InternetAddress *ia;
	const char *addr;
	bool ok;

	sender_init();
	memcpy(in, "x@", 2);
	memcpy(in + 2, domain, n + 1);
	ia = internet_address_mailbox_new(NULL, in);
	addr = internet_address_mailbox_get_idn_addr(INTERNET_ADDRESS_MAILBOX(ia));
	ok = addr != NULL && sender_mailbox_domain(addr, out, outsz);
	g_object_unref(ia);
	free(in);
	return ok;
}

struct sender_walk {
	sender_domain_fn      fn;
	void                 *arg;
	struct sender_result *r;
	size_t                mailboxes;
};

static void
sender_refuse(struct sender_walk *w, enum sender_verdict v, const char *addr)
{
	w->r->verdict = v;
	if (addr != NULL) {
		size_t n = strlen(addr);
		if (n > SENDER_ADDR_MAX)
			n = SENDER_ADDR_MAX;
		memcpy(w->r->addr, addr, n);
		w->r->addr[n] = '\0';
	}
}

/* Check every mailbox of list (groups' members too). False: stop, w->r set. */
static bool
sender_list_walk(struct sender_walk *w, InternetAddressList *list, int depth)
{
	int n = internet_address_list_length(list);
	char domain[256];

	for (int i = 0; i < n; i++) {
		InternetAddress *ia = internet_address_list_get_address(list, i);
		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			InternetAddressList *m = internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia));
			if (depth >= SENDER_GROUP_DEPTH || (m != NULL && !sender_list_walk(w, m, depth + 1))) {
				if (w->r->verdict == SENDER_OK)
					sender_refuse(w, SENDER_BAD_FROM, NULL);
				return false;
			}
			continue;
		}
		if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
			continue;
		InternetAddressMailbox *mb = INTERNET_ADDRESS_MAILBOX(ia);
		const char *addr = internet_address_mailbox_get_idn_addr(mb);
		int ok;
		if (addr == NULL)
			addr = internet_address_mailbox_get_addr(mb);
		if (addr == NULL || addr[0] == '\0') {
			sender_refuse(w, SENDER_BAD_FROM, NULL);
			return false;
		}
		w->mailboxes++;
		ok = sender_mailbox_domain(addr, domain, sizeof(domain)) ? w->fn(w->arg, domain) : 0;
		if (ok != 1) {
			sender_refuse(w, ok < 0 ? SENDER_ERROR : SENDER_FOREIGN, addr);
			return false;
		}
	}
	return true;
}

/* How many '@' the value has outside quoted strings, comments, domain
 * literals and obsolete routes ("<@a,@b:"): one per mailbox when GMime read
 * all of it. More means it skipped text another reader may show as an
 * address ("a@x; b@y", "b@y <a@x>"); SIZE_MAX when a quoted string, comment
 * or literal is left open. */
size_t
sender_value_ats(const char *v)
{
	size_t ats = 0;
	int depth = 0;
	bool quoted = false, literal = false;

	for (; *v != '\0'; v++) {
		if ((quoted || depth > 0) && *v == '\\' && v[1] != '\0')
			v++;
		else if (quoted)
			quoted = *v != '"';
		else if (*v == '(')
			depth++;
		else if (*v == ')' && depth > 0)
			depth--;
		else if (depth > 0)
			continue;
		else if (literal)
			literal = *v != ']';
		else if (*v == '"')
			quoted = true;
		else if (*v == '[')
			literal = true;
		else if (*v == '<' && v[strspn(v + 1, " \t") + 1] == '@' && v[strcspn(v, ":>")] == ':')
			v += strcspn(v, ":>");
		else if (*v == '@')
			ats++;
	}
	/* An unterminated quoted string, comment or literal: readers differ on
	 * what it holds, so no count can match. */
	return quoted || depth > 0 || literal ? SIZE_MAX : ats;
}

/* One unfolded field value: parse and walk it. */
static void
sender_value_check(struct sender_walk *w, const char *value)
{
	size_t ats = sender_value_ats(value);
	InternetAddressList *list;

	/* Refused before GMime sees it: readers disagree on such a value, and
	 * GMime 3.2 leaks a buffer on some of them (found by fuzz_sender_from:
	 * "a@[?(r](") - memory a client could make ferryd lose per message. */
	if (ats == SIZE_MAX || (list = internet_address_list_parse(NULL, value)) == NULL) {
		sender_refuse(w, SENDER_BAD_FROM, NULL);
		return;
	}
	if (sender_list_walk(w, list, 0) && (w->mailboxes == 0 || ats != w->mailboxes))
		sender_refuse(w, SENDER_BAD_FROM, NULL);
	g_object_unref(list);
}

enum sender_verdict
sender_from_check(const char *hdr, size_t len, sender_domain_fn fn, void *arg,
    struct sender_result *r)
{
	struct sender_span span;
	struct sender_walk w = { fn, arg, r, 0 };
	bool nul = false;
	char *value;

	memset(r, 0, sizeof(*r));
	r->nfrom = sender_from_fields_nul(hdr, len, &span, 1, &nul);
	if (nul)
		return r->verdict = SENDER_BAD_FROM;
	if (r->nfrom == 0)
		return r->verdict = SENDER_NO_FROM;
	if (r->nfrom > 1)
		return r->verdict = SENDER_MANY_FROM;
	value = sender_field_unfold(span.p, span.len);
	if (value == NULL)
		return r->verdict = SENDER_BAD_FROM;
	sender_init();
	sender_value_check(&w, value);
	free(value);
	return r->verdict;
}
