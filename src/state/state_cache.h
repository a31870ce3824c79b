/*
 * state_cache.h - a cache in Redis, shared by every node, of the state
 * lookups ferryd makes for each message: the sending identity at MAIL
 * (suspension, limits, pool: state_ident_refresh) and the suppression list
 * at RCPT (state_suppression_get). Used when the state is on PostgreSQL and
 * `counters redis://` is set (`state_cache on`, the default).
 *
 * Why no answer is ever stale: each tenant has a generation,
 * ferry:gen:{TENANT}, and every cached value is kept under a key that
 * holds the generation it was read under, ferry:sup:{TENANT}:GEN:SHA256 or
 * ferry:ident:{TENANT}:GEN:KIND:ID (GEN is "EPOCH.GENERATION"). A lookup is one Lua script (one round
 * trip) that reads the generation and the value under it. On a miss the
 * database is read and the answer stored under the generation read before
 * the query. Every write that can change an answer moves the generation on
 * after its commit (state_changed -> state_cache_changed), so a value read
 * from the database before the change lands under a generation no lookup
 * reads again. A change is thus seen by every node at its next lookup.
 *
 * When Redis cannot be reached, lookups go to the database (bypass). A
 * change whose bump fails stays pending on its node, retried every second;
 * that node reads the tenant from the database until it is through. When
 * the server answers again, or the once-a-second heartbeat sees it was
 * restarted (a snapshot may hold entries older than changes made since),
 * the node moves the epoch on (ferry:epoch, part of every value's key)
 * before it uses the cache again: no entry from before the outage is read.
 * What is left, and the bound on it: a server restarted from a snapshot
 * can serve such an entry until the heartbeat sees the restart (about a
 * second); a writer cut off from Redis while the other nodes reach it (a
 * partition, ferryctl on another host) leaves them reading the entry from
 * before the change until its node's retry is through or the entry expires,
 * at most STATE_CACHE_TTL seconds (ferryctl warns when it gives up).
 *
 * API keys at AUTH are cached too (ferry:key:...); account passwords,
 * domains, DKIM keys and connectors' networks are not.
 * SECURITY: values hold no secret (no password or key hash); addresses are
 * in keys only as SHA-256. Values read back are parsed with explicit
 * lengths and refused (read from the database) when malformed.
 */
#ifndef FERRY_STATE_STATE_CACHE_H
#define FERRY_STATE_STATE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/state.h"
#include "state/suppress.h"

#define STATE_CACHE_TTL       60      /* seconds a value lives */
#define STATE_CACHE_RETRY_MS  1000    /* a failed generation bump, again */
#define STATE_CACHE_KEY_MAX   160
#define STATE_CACHE_VALUE_MAX 1024

struct counters;
struct state_cache;

/* Attach a cache to st on the Redis server of redis (counters_redis_open:
 * its connections and outage state are shared) and register the bump as
 * st's change hook. Starts the thread that retries failed bumps. NULL when
 * redis is not a Redis backend. */
struct state_cache *state_cache_open(struct state *st, struct counters *redis);
/* Detach from st, stop the thread, free. redis must still be open. */
void state_cache_close(struct state_cache *c);

/* ferryctl: move tenant_id's generation on with a connection of its own
 * (no cache of its own lookups). 0, or -1 when Redis could not be reached
 * (within about 2 s of retries). */
int state_cache_bump_once(const char *uri, long long tenant_id);

/* Lookups, for src/state/. A slot is where a miss stores what the
 * database answers: the key under the generation read before the query. */
struct state_cache_slot {
	bool fill;
	char key[STATE_CACHE_KEY_MAX];
};
/* The value of space ("sup", "ident") / item for tenant_id into val
 * (*len octets, NUL-terminated): 1 hit, 0 miss (slot set to fill), -1 no
 * cache (none attached, or Redis unreachable: ask the database). */
int state_cache_get(struct state *st, const char *space, long long tenant_id, const char *item,
    char *val, size_t valsz, size_t *len, struct state_cache_slot *slot);
/* API keys at AUTH (state_auth): the row of the key whose prefix is
 * prefix, under its tenant's generation (ferry:key:{TENANT}:GEN:PREFIX).
 * The tenant of a prefix never changes; it is learnt from the database
 * (state_cache_key_tenant_put) before any row is cached. 1 hit (val), 0
 * miss (slot set to fill), -1 no answer (no cache, Redis unreachable, or
 * the prefix's tenant not learnt yet). */
int state_cache_key_get(struct state *st, const char *prefix, char *val, size_t valsz, size_t *len,
    struct state_cache_slot *slot);
void state_cache_key_tenant_put(struct state *st, const char *prefix, long long tenant_id);
/* Store val under a miss's slot (nothing when !slot->fill), for
 * STATE_CACHE_TTL seconds. */
void state_cache_put(struct state *st, const struct state_cache_slot *slot, const char *val,
    size_t len);
/* The answer a lookup got from the cache: not usable (malformed); counted
 * as a miss instead of a hit. */
void state_cache_unusable(void);

/* Lookups since start: [0] hits, [1] misses, [2] bypassed (metrics). */
void state_cache_counts(uint64_t out[3]);

/* ---- values (state_cache_value.c): compact text, explicit lengths ---- */

/* The fields state_ident_refresh sets (found), or "gone" (!found). The
 * length written (< outsz), or 0 when it does not fit. */
size_t state_cache_ident_format(char *out, size_t outsz, const struct state_ident *id, bool found);
/* Into id's refreshed fields: 1 found, 0 gone, -1 malformed (id untouched). */
int state_cache_ident_parse(const char *v, size_t len, struct state_ident *id);
/* An API key's row at AUTH: its tenant's and its own id, the SHA-256 of the whole key (checked
 * by the caller, never a secret itself) and the tenant's fields of id, or
 * "no such live key" (!found). Length or 0 as above. */
size_t state_cache_key_format(char *out, size_t outsz, long long key_id, const unsigned char hash[32],
    const struct state_ident *id, bool found);
/* 1 found (key_id, hash, id's tenant_id and tenant fields set), 0 none,
 * -1 malformed. */
int state_cache_key_parse(const char *v, size_t len, long long *key_id, unsigned char hash[32],
    struct state_ident *id);
/* A suppression entry s (addr not included: the key names it), or none
 * (s NULL). Length or 0 as above. */
size_t state_cache_sup_format(char *out, size_t outsz, const struct suppression *s);
/* 1 an entry (s filled, addr from addr), 0 none, -1 malformed. */
int state_cache_sup_parse(const char *v, size_t len, const char *addr, struct suppression *s);

#endif
