/*
 * sender.c - From: lockdown for tenants' messages (see sender.h): find the
 * From: fields with explicit lengths, unfold each, parse it with GMime and
 * ask the caller about every mailbox's domain.
 * STANDARDS: RFC 5322 2.2, 3.4, 3.6, 4.5.2 (obsolete "From :" counted too);
 * RFC 2047; RFC 5890 (IDN domains compared in their A-label form).
 * SECURITY: hostile input; nothing here trusts a length it did not measure.
 * Parsing that disagrees with mail readers errs towards refusing: a field
 * GMime cannot read, or one with no mailbox, is refused.
 */
#include "policy/sender.h"

#include <gmime/gmime.h>
#include <pthread.h>
#include <stdbool.h>
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

/* Does the line (len octets, no line end) open a From: field? "From:" in
 * any case, WSP allowed before the colon (RFC 5322 4.5.2: obs-from). Sets
 * *body to the offset after the colon. */
static bool
sender_line_is_from(const char *line, size_t len, size_t *body)
{
	size_t i = 4;

	if (len < 5 || strncasecmp(line, "From", 4) != 0)
		return false;
	while (i < len && sender_is_wsp(line[i]))
		i++;
	if (i >= len || line[i] != ':')
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

size_t
sender_from_fields(const char *hdr, size_t len, struct sender_span *out, size_t max)
{
	size_t off = 0, count = 0;
	struct sender_span *cur = NULL;

	while (off < len) {
		size_t eol = sender_line_end(hdr, len, off);
		size_t n = sender_line_len(hdr, off, eol), body;

		if (n == 0)
			break;   /* the empty line: end of the header section */
		if (sender_is_wsp(hdr[off])) {
			if (cur != NULL)   /* folding: the field goes on */
				cur->len = off + n - (size_t)(cur->p - hdr);
		} else if (sender_line_is_from(hdr + off, n, &body)) {
			cur = count < max ? &out[count] : NULL;
			if (cur != NULL) {
				cur->p = hdr + off + body;
				cur->len = n - body;
			}
			count++;
		} else
			cur = NULL;
		off = eol + 1;
	}
	return count;
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

/* One unfolded field value: parse and walk it. */
static void
sender_value_check(struct sender_walk *w, const char *value)
{
	InternetAddressList *list = internet_address_list_parse(NULL, value);

	if (list == NULL) {
		sender_refuse(w, SENDER_BAD_FROM, NULL);
		return;
	}
	if (sender_list_walk(w, list, 0) && w->mailboxes == 0)
		sender_refuse(w, SENDER_BAD_FROM, NULL);
	g_object_unref(list);
}

enum sender_verdict
sender_from_check(const char *hdr, size_t len, sender_domain_fn fn, void *arg,
    struct sender_result *r)
{
	struct sender_span span;
	struct sender_walk w = { fn, arg, r, 0 };
	char *value;

	memset(r, 0, sizeof(*r));
	r->nfrom = sender_from_fields(hdr, len, &span, 1);
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
