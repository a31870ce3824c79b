/*
 * dkim.h - DKIM signing (RFC 6376) with RSA-SHA256 and Ed25519-SHA256
 * (RFC 8463), relaxed/relaxed canonicalization.
 * SECURITY: private keys are read once from files that must not be
 * readable by group or world; the message is untrusted input and is only
 * hashed, never interpreted beyond finding header field boundaries.
 */
#ifndef FERRY_DKIM_DKIM_H
#define FERRY_DKIM_DKIM_H

#include <stdbool.h>
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

/* The keys to sign with for a message whose From: domain is domain
 * (lowercase): points *keys at them and returns how many (0: none). */
typedef size_t (*dkim_keys_fn)(void *arg, const char *domain, struct dkim_key *const **keys);

/* dkim_sign_fd with the keys chosen by fn once the From: domain is known,
 * so the header section is read once. fn is not called when the message
 * has no From: domain (0, *out NULL) or cannot be read (-1). */
int dkim_sign_fd_with(dkim_keys_fn fn, void *arg, int fd, off_t off, uint64_t len, time_t now,
    char **out);

/* A message read once and signed again for each recipient with header
 * lines of its own (one-click unsubscribe, RFC 8058 4: the signature must
 * cover them): the header section, the body hash and references to the
 * keys that apply, kept until dkim_prep_free. */
struct dkim_prep;
/* Read the message as dkim_sign_fd_with does (the body only when a key
 * applies). 0 and *out set (perhaps with no key), or -1 (unreadable,
 * header section over 256 KiB). */
int dkim_prep_fd_with(dkim_keys_fn fn, void *arg, int fd, off_t off, uint64_t len, struct dkim_prep **out);
/* Has the message a header field name (case-insensitive)? */
bool dkim_prep_has_field(const struct dkim_prep *p, const char *name);
/* Sign the message with the header lines extra ("Name: value\r\n"...,
 * "" none) put before its header section: *out as dkim_sign_fd's (NULL:
 * no key applies). 0 or -1. */
int dkim_prep_sign(const struct dkim_prep *p, const char *extra, time_t now, char **out);
void dkim_prep_free(struct dkim_prep *p);

/* The same over a buffer (tests, fuzzing). */
int dkim_sign_buf(struct dkim_key *const *keys, size_t nkeys, const char *msg, size_t len,
    time_t now, char **out);

#endif
