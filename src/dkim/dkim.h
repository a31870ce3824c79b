/*
 * dkim.h - DKIM signing (RFC 6376) with RSA-SHA256 and Ed25519-SHA256
 * (RFC 8463), relaxed/relaxed canonicalization.
 * SECURITY: private keys are read once from files that must not be
 * readable by group or world; the message is untrusted input and is only
 * hashed, never interpreted beyond finding header field boundaries.
 */
#ifndef FERRY_DKIM_DKIM_H
#define FERRY_DKIM_DKIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct dkim_key;

/* Load a PEM private key (RSA of at least 1024 bits, or Ed25519) for
 * domain and selector. NULL with err when unreadable, unsafe or unsupported. */
struct dkim_key *dkim_key_load(const char *domain, const char *selector, const char *path,
    char *err, size_t errlen);
void dkim_key_free(struct dkim_key *k);

/* Sign the message (CRLF lines, headers then body) read from fd at off for
 * len octets with every key whose domain is the domain of its From:
 * address or a parent of it (DMARC alignment), over one body hash. *out
 * receives the malloc'd "DKIM-Signature: ...\r\n" header(s) to put before
 * the message, or NULL when no key applies. Returns 0, or -1 (unreadable,
 * header section over 256 KiB, signing failed). */
int dkim_sign_fd(struct dkim_key *const *keys, size_t nkeys, int fd, off_t off, uint64_t len,
    time_t now, char **out);

/* The domain (lowercase) of the message's first From: field, read from fd
 * at off (len octets): 0, or -1 when there is none or it cannot be read. */
int dkim_from_domain_fd(int fd, off_t off, uint64_t len, char *out, size_t outsz);

/* The same over a buffer (tests, fuzzing). */
int dkim_sign_buf(struct dkim_key *const *keys, size_t nkeys, const char *msg, size_t len,
    time_t now, char **out);

#endif
