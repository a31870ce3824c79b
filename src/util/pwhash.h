/*
 * pwhash.h - password hashes: argon2id strings (libsodium's
 * crypto_pwhash_str) made and checked the same way for the users file
 * (auth/) and the relay service's accounts (state/).
 * STANDARDS: RFC 9106 (Argon2).
 * SECURITY: hashing and verifying are slow by design (tens of
 * milliseconds): never on an event loop.
 */
#ifndef FERRY_UTIL_PWHASH_H
#define FERRY_UTIL_PWHASH_H

#include <stdbool.h>
#include <stddef.h>

#define PWHASH_STR_MAX 128   /* crypto_pwhash_STRBYTES: a hash and its NUL */

/* libsodium ready; false only when the system has no random source. */
bool pwhash_init(void);

/* Hash pass with the interactive limits. 0, or -1 (out of memory). */
int  pwhash_make(const char *pass, size_t passlen, char hash[PWHASH_STR_MAX]);

/* Check pass against hash. hash NULL (no such user) still costs one
 * verification, against a dummy hash of a random password, and answers
 * false: timing does not tell which names exist. */
bool pwhash_verify(const char *hash, const char *pass, size_t passlen);

/* An encoded argon2id (or argon2i, which libsodium also verifies) hash of
 * len octets, hash[len] NUL. Decodes the whole string without hashing, so a
 * truncated or mangled hash is caught when it is read, not at login. */
bool pwhash_valid(const char *hash, size_t len);

#endif
