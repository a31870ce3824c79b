/*
 * webhook_sign.h - the signature of a webhook POST: the header
 * "Ferry-Signature: t=UNIX,v1=HEX" where HEX is the lowercase hex of
 * HMAC-SHA256(key = the endpoint's secret text, "UNIX.BODY"). The receiver
 * recomputes it and compares in constant time, and refuses an old t to
 * stop replays (docs/api.md, "Webhooks"). The scheme is Stripe's.
 */
#ifndef FERRY_WEBHOOK_WEBHOOK_SIGN_H
#define FERRY_WEBHOOK_WEBHOOK_SIGN_H

#include <stddef.h>
#include <time.h>

/* "t=" 20 digits ",v1=" 64 hex, NUL */
#define WEBHOOK_SIG_MAX 96

/* The header's value for body (len octets) signed at t with secret, into
 * out (at least WEBHOOK_SIG_MAX). 0, or -1 when OpenSSL fails. */
int webhook_sign(const char *secret, time_t t, const char *body, size_t len, char *out, size_t outsz);

#endif
