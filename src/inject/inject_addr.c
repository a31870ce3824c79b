/*
 * inject_addr.c - the small validators of injected messages: mailboxes (by
 * SMTP's own path parser), the recipient list, header names and values,
 * Message-IDs.
 * STANDARDS: RFC 5321 4.1.2 (Mailbox), RFC 5322 3.6.4 (msg-id), 3.6.8
 * (field names), 2.1.1 (line length).
 * SECURITY: inputs are the API client's; what is refused here never
 * reaches a header line or the envelope.
 */
#include "inject/inject_json.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/xmalloc.h"

int
inject_addr_parse(const char *s, char out[SMTP_PATH_MAX + 1], char *err, size_t errlen)
{
	char buf[SMTP_PATH_MAX + 3];
	struct smtp_path p;
	size_t n = strlen(s), used;

	if (n == 0 || n > SMTP_PATH_MAX) {
		snprintf(err, errlen, n == 0 ? "empty address" : "address longer than %d octets", SMTP_PATH_MAX);
		return -1;
	}
	/* SMTP's parser takes "<path>": the same rules as RCPT TO, no looser. */
	snprintf(buf, sizeof(buf), "<%s>", s);
	if (smtp_path_parse(buf, n + 2, false, false, &p, &used) != NULL || used != n + 2) {
		snprintf(err, errlen, "not a valid address (local@domain)");
		return -1;
	}
	if (p.utf8) {
		snprintf(err, errlen, "non-ASCII addresses are not supported");
		return -1;
	}
	if (p.at >= p.len) {
		snprintf(err, errlen, "address has no domain");
		return -1;
	}
	memcpy(out, p.addr, p.len + 1);
	return 0;
}

int
inject_rcpt_add(struct inject_msg *m, const char *addr)
{
	for (size_t i = 0; i < m->nrcpts; i++)
		if (strcasecmp(m->rcpts[i], addr) == 0)
			return 0;
	if (m->nrcpts >= INJECT_RCPTS_MAX)
		return -1;
	m->rcpts = xrealloc(m->rcpts, (m->nrcpts + 1) * sizeof(*m->rcpts));
	m->rcpts[m->nrcpts++] = xstrdup(addr);
	return 0;
}

const char *
inject_header_check(const char *name, const char *value)
{
	size_t n = strlen(name);

	if (n == 0 || n > INJECT_HNAME_MAX)
		return "header name must be 1 to 76 characters";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 33 || (unsigned char)name[i] > 126 || name[i] == ':')
			return "header name may hold printable ASCII but ':' only";
	if (strlen(value) > INJECT_HVALUE_MAX)
		return "header value longer than 998 octets";
	if (strpbrk(value, "\r\n") != NULL)
		return "header value holds CR or LF";
	return NULL;
}

/* atext and '.', as in a dot-atom (RFC 5322 3.2.3), for msg-id halves. */
static bool
inject_msgid_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL);
}

int
inject_msgid_parse(const char *id, char out[INJECT_MSGID_MAX + 3])
{
	size_t n = strlen(id), at = 0, nat = 0;

	if (n >= 2 && id[0] == '<' && id[n - 1] == '>') {
		id++;
		n -= 2;
	}
	if (n == 0 || n > INJECT_MSGID_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (id[i] == '@') {
			at = i;
			nat++;
		} else if (!inject_msgid_char(id[i]))
			return -1;
	}
	if (nat != 1 || at == 0 || at == n - 1)
		return -1;
	snprintf(out, INJECT_MSGID_MAX + 3, "<%.*s>", (int)n, id);
	return 0;
}

void
inject_msgid_new(const char *hostname, char out[INJECT_MSGID_MAX + 3])
{
	unsigned char rnd[16];
	char hex[sizeof(rnd) * 2 + 1];

	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
	snprintf(out, INJECT_MSGID_MAX + 3, "<%s@%.*s>", hex, INJECT_MSGID_MAX - 40,
	    hostname != NULL && hostname[0] != '\0' ? hostname : "localhost");
}
