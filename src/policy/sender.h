/*
 * sender.h - sender lockdown on the message header: a tenant's message must
 * carry exactly one From: field whose every mailbox (groups walked) is in a
 * domain the tenant may send as. Display names, comments and encoded words
 * are left to GMime's address parser, so "From: me@acme.test <x@evil>"
 * names x@evil, as a mail reader would show it.
 * STANDARDS: RFC 5322 3.6 (one From: field), 3.4 (address lists, groups),
 * 2.2.3 (folding); RFC 2047 encoded words.
 * SECURITY: the header section is hostile. Fields are found with explicit
 * lengths in a bounded buffer (SENDER_HEADER_MAX); a field holding a NUL
 * octet is unparsable, never truncated into something else.
 */
#ifndef FERRY_POLICY_SENDER_H
#define FERRY_POLICY_SENDER_H

#include <stdbool.h>
#include <stddef.h>

#define SENDER_HEADER_MAX (256 * 1024)   /* header section kept for the check */
#define SENDER_ADDR_MAX   320

/* One field body (after the colon, folding kept): len octets at p. */
struct sender_span {
	const char *p;
	size_t      len;
};

enum sender_verdict {
	SENDER_OK,
	SENDER_NO_FROM,      /* no From: field */
	SENDER_MANY_FROM,    /* more than one: nfrom says how many */
	SENDER_BAD_FROM,     /* empty, unparsable, or no mailbox in it */
	SENDER_FOREIGN,      /* addr is not in the tenant's domains */
	SENDER_ERROR,        /* the domain check failed (database): try later */
};

struct sender_result {
	enum sender_verdict verdict;
	size_t nfrom;
	char   addr[SENDER_ADDR_MAX + 1];   /* the refused mailbox (SENDER_FOREIGN) */
};

/* May the tenant send as domain (lowercase ASCII, no trailing dot)? 1 yes,
 * 0 no, -1 error. */
typedef int (*sender_domain_fn)(void *arg, const char *domain);

/* GMime's global set-up; once, before any check (ferryd calls it at start,
 * the check calls it again through pthread_once). */
void sender_init(void);
void sender_shutdown(void);

/* The From: fields of a header section (len octets of CRLF lines, ending
 * at the empty line or at len): fills up to max spans, returns how many
 * From: fields there are in all. */
size_t sender_from_fields(const char *hdr, size_t len, struct sender_span *out, size_t max);

/* The field body unfolded (CRLF before WSP removed) as a new NUL-terminated
 * string, or NULL when it holds a NUL octet or a line break that is not
 * folding. The caller frees it. */
char *sender_field_unfold(const char *p, size_t len);

/* A domain (UTF-8 U-labels allowed) in the form From: domains are compared
 * in: A-labels, lowercase, no trailing dot. False when it has none. */
bool sender_domain_alabel(const char *domain, char *out, size_t outsz);

/* How many '@' an unfolded address-list value has outside quoted strings,
 * comments, domain literals and routes: one per mailbox when GMime read
 * all of it; SIZE_MAX when one of those is left open (GMime 3.2 leaks on
 * some such values: never give it one). */
size_t sender_value_ats(const char *v);

/* The whole decision for a header section; fills r and returns its verdict. */
enum sender_verdict sender_from_check(const char *hdr, size_t len, sender_domain_fn fn, void *arg,
    struct sender_result *r);

#endif
