/*
 * unsub.h - one-click unsubscribe (RFC 8058) for a tenant's mail: whether
 * the tenant wants the List-Unsubscribe headers (tenants column
 * unsubscribe), and the token of the link, which names the tenant and the
 * recipient and cannot be forged: TOKEN = base64url (no padding) of
 * payload || mac, payload = version 1 (1 octet) || tenant id (8, big
 * endian) || time made (8) || recipient address (1..320 octets), mac the
 * first 128 bits of HMAC-SHA256(key, payload), key = HMAC-SHA256(the
 * state database's return-path secret, UNSUB_KEY_LABEL): a key of its own,
 * so a token of one kind is never a MAC of the other.
 * SECURITY: a token comes from anyone on the Internet: its length is
 * checked before it is decoded, the MAC compared in constant time, the
 * address checked (no control octets) before it is used.
 */
#ifndef FERRY_STATE_UNSUB_H
#define FERRY_STATE_UNSUB_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "state/state.h"
#include "state/suppress.h"

#define UNSUB_KEY_LABEL "ferry one-click unsubscribe v1"
#define UNSUB_MAC_LEN   16                 /* 128 bits */
#define UNSUB_HEAD_LEN  17                 /* version, tenant, time */
/* base64 of the longest payload and its MAC, without padding */
#define UNSUB_TOKEN_MAX (((UNSUB_HEAD_LEN + SUPPRESS_ADDR_MAX + UNSUB_MAC_LEN) * 4 + 2) / 3)

struct unsub_info {
	long long tenant_id;
	time_t    time;                        /* when the token was made */
	char      rcpt[SUPPRESS_ADDR_MAX + 1];
};

/* The token for rcpt of tenant_id into out (size > UNSUB_TOKEN_MAX). 0,
 * or -1 when the address is empty, too long or holds control octets. */
int unsub_token_make(const unsigned char secret[32], long long tenant_id, const char *rcpt, time_t now,
    char *out, size_t outsz);
/* Is token (len octets) one unsub_token_make made with secret? true and
 * info filled, or false. */
bool unsub_token_check(const unsigned char secret[32], const char *token, size_t len,
    struct unsub_info *info);

/* The tenant's setting: 1 found (*on set), 0 no such tenant, -1. */
int state_tenant_unsubscribe(struct state *st, long long tenant_id, bool *on);
/* ferryctl: 1 changed, 0 no such tenant, -1. */
int state_tenant_unsubscribe_set(struct state *st, const char *name, bool on);

#endif
