/*
 * state_admin.h - editing the relay service's state (ferryctl): tenants,
 * accounts, API keys, sender domains and their DKIM keys, connectors.
 * ferryd only reads the state (state.h); every change goes through here.
 *
 * Convention: functions return 0 on success and -1 with one line for the
 * administrator in err (a refused input: "no tenant acme", or a database
 * error naming the file). Lookups by name take the names as typed; domains
 * are lowercased and validated by state_domain_norm first.
 *
 * SECURITY: every value is bound, never formatted into SQL. Passwords are
 * hashed with argon2id (libsodium, INTERACTIVE limits); API keys are kept
 * only as the SHA-256 of their text. DKIM private keys are files 0600 in
 * directories 0700 owned by the owner of the database file (ferryd's user).
 */
#ifndef FERRY_STATE_STATE_ADMIN_H
#define FERRY_STATE_STATE_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "state/state.h"

#define STATE_REASON_MAX   127
#define STATE_LABEL_MAX    127
#define STATE_DOMAINS_MAX  1023     /* a connector's comma list */
#define STATE_SELECTOR_MAX 63

/* Names of tenants, accounts, connectors and pools: 1..64 of [A-Za-z0-9._-]. */
bool state_name_valid(const char *s);
/* A domain name as typed into its canonical form in out (lowercase, no
 * trailing dot). 0, or -1 when it is not a valid host name. */
int state_domain_norm(const char *in, char *out, size_t outsz);

/* Limits to set: a field < 0 is left as it is. */
#define STATE_LIMITS_KEEP { -1, -1, -1, -1 }

/* ---- tenants ---- */
struct state_tenant_info {
	struct state_tenant t;
	char      suspend_reason[STATE_REASON_MAX + 1];
	long long created;
};
typedef void (*state_tenant_fn)(void *arg, const struct state_tenant_info *t);

/* pool, bounce_domain: NULL or "" for none. */
int state_tenant_add(struct state *st, const char *name, const char *pool,
    const char *bounce_domain, char *err, size_t errlen);
int state_tenant_get(struct state *st, const char *name, struct state_tenant_info *t,
    char *err, size_t errlen);
int state_tenant_list(struct state *st, state_tenant_fn fn, void *arg, char *err, size_t errlen);
/* pool, bounce_domain: NULL leaves it, "" clears it. */
int state_tenant_set(struct state *st, const char *name, const char *pool,
    const char *bounce_domain, char *err, size_t errlen);
/* Its weight in delivery: a busy destination serves tenants in turn, this
 * many messages at each turn (STATE_WEIGHT_MIN to _MAX; new tenants 1). */
#define STATE_WEIGHT_MIN 1
#define STATE_WEIGHT_MAX 100
int state_tenant_weight(struct state *st, const char *name, long long weight, char *err, size_t errlen);
int state_tenant_limit(struct state *st, const char *name, const struct state_limits *l,
    char *err, size_t errlen);
int state_tenant_suspend(struct state *st, const char *name, const char *reason,
    char *err, size_t errlen);
/* *id receives the tenant's id (for ferryd's release-tenant). */
int state_tenant_resume(struct state *st, const char *name, long long *id,
    char *err, size_t errlen);
/* Removes the tenant's accounts, keys, domains and connectors too (the
 * caller removes DKIM key files: see state_dkim_files_remove). */
int state_tenant_del(struct state *st, const char *name, char *err, size_t errlen);

/* ---- accounts (SMTP AUTH user names, unique across tenants) ---- */
struct state_account {
	long long id;
	char      name[STATE_NAME_MAX + 1];
	struct state_limits limits;
	long long created;
};
typedef void (*state_account_fn)(void *arg, const struct state_account *a);

int state_account_add(struct state *st, const char *tenant, const char *name,
    const char *pass, char *err, size_t errlen);
int state_account_passwd(struct state *st, const char *tenant, const char *name,
    const char *pass, char *err, size_t errlen);
int state_account_del(struct state *st, const char *tenant, const char *name,
    char *err, size_t errlen);
int state_account_list(struct state *st, const char *tenant, state_account_fn fn, void *arg,
    char *err, size_t errlen);
int state_account_limit(struct state *st, const char *tenant, const char *name,
    const struct state_limits *l, char *err, size_t errlen);

/* ---- API keys ---- */
struct state_key_info {
	long long id;
	char      prefix[STATE_KEY_PREFIX_LEN + 1];
	char      label[STATE_LABEL_MAX + 1];
	long long created;
	long long revoked;      /* when; 0: in use */
};
typedef void (*state_key_fn)(void *arg, const struct state_key_info *k);

/* A new key into key (shown once: only its hash is kept). */
int state_key_create(struct state *st, const char *tenant, const char *label,
    char key[STATE_KEY_TEXT_MAX + 1], char *err, size_t errlen);
int state_key_list(struct state *st, const char *tenant, state_key_fn fn, void *arg,
    char *err, size_t errlen);
int state_key_revoke(struct state *st, const char *tenant, const char *prefix,
    char *err, size_t errlen);
/* A new key with the old one's label; the old one is revoked. */
int state_key_rotate(struct state *st, const char *tenant, const char *prefix,
    char key[STATE_KEY_TEXT_MAX + 1], char *err, size_t errlen);

/* ---- sender domains (each belongs to one tenant) ---- */
struct state_domain_info {
	long long id;
	char      tenant[STATE_NAME_MAX + 1];
	long long tenant_id;
	char      name[STATE_DOMAIN_MAX + 1];
	bool      subdomains;
	long long created;
};
typedef void (*state_domain_fn)(void *arg, const struct state_domain_info *d);

/* Adds the row only: see state_domain_add_keys (state_dkimgen.c). */
int state_domain_add(struct state *st, const char *tenant, const char *domain, bool subdomains,
    char *err, size_t errlen);
int state_domain_get(struct state *st, const char *domain, struct state_domain_info *d,
    char *err, size_t errlen);
/* tenant NULL: every tenant's. */
int state_domain_list(struct state *st, const char *tenant, state_domain_fn fn, void *arg,
    char *err, size_t errlen);
int state_domain_del(struct state *st, const char *tenant, const char *domain,
    char *err, size_t errlen);

/* ---- DKIM key rows. algo: "rsa" or "ed25519" (the k= tag). ---- */
struct state_dkim_info {
	char      selector[STATE_SELECTOR_MAX + 1];
	char      algo[16];
	char      path[4096];
	bool      signing;
	long long created;
};
typedef void (*state_dkim_info_fn)(void *arg, const struct state_dkim_info *k);

int state_dkim_key_add(struct state *st, const char *domain, const char *selector,
    const char *algo, const char *path, bool signing, char *err, size_t errlen);
/* Every key of domain, signing or not, oldest first. */
int state_dkim_key_list(struct state *st, const char *domain, state_dkim_info_fn fn, void *arg,
    char *err, size_t errlen);
/* Remove a key that no longer signs; its path into path (the caller
 * removes the file). */
int state_dkim_key_del(struct state *st, const char *domain, const char *selector,
    char *path, size_t pathsz, char *err, size_t errlen);

/* ---- connectors ---- */
struct state_connector_info {
	long long id;
	char      tenant[STATE_NAME_MAX + 1];
	char      name[STATE_NAME_MAX + 1];
	char      network[64];
	char      domains[STATE_DOMAINS_MAX + 1];
	char      pool[STATE_NAME_MAX + 1];
	struct state_limits limits;
	long long created;
};
typedef void (*state_connector_fn)(void *arg, const struct state_connector_info *c);

/* network: CIDR (netaddr_net_parse); domains: NULL, "" or a comma list of
 * the tenant's domains; pool: NULL or "" for the tenant's. */
int state_connector_add(struct state *st, const char *tenant, const char *name,
    const char *network, const char *domains, const char *pool, char *err, size_t errlen);
int state_connector_list(struct state *st, const char *tenant, state_connector_fn fn, void *arg,
    char *err, size_t errlen);
int state_connector_del(struct state *st, const char *tenant, const char *name,
    char *err, size_t errlen);
int state_connector_limit(struct state *st, const char *tenant, const char *name,
    const struct state_limits *l, char *err, size_t errlen);

/* ---- DKIM key files (state_dkimgen.c) ---- */

/* Add domain to tenant and make its first keys (rsa1, ed1) under
 * <directory of the database>/dkim/<domain>/. Nothing is left behind on
 * failure. */
int state_domain_add_keys(struct state *st, const char *tenant, const char *domain,
    bool subdomains, char *err, size_t errlen);
/* New signing keys rsaN+1 and edN+1; the older keys stop signing but stay
 * (still published while mail signed with them is in transit). The new
 * selectors into rsa_sel/ed_sel (size STATE_SELECTOR_MAX + 1). */
int state_dkim_rotate(struct state *st, const char *domain, char *rsa_sel, char *ed_sel,
    char *err, size_t errlen);
/* Remove a non-signing key: its row and its file. */
int state_dkim_retire(struct state *st, const char *domain, const char *selector,
    char *err, size_t errlen);
/* Remove the key files of a domain (after its row is gone). */
void state_dkim_files_remove(struct state *st, const char *domain);
/* The public half of the private key in path as DKIM's p= carries it
 * (decoded): the SubjectPublicKeyInfo (RSA) or the raw 32-octet key
 * (Ed25519, RFC 8463: *ed25519 true). Its length in out, or 0 + err. */
#define STATE_DKIM_PUB_MAX 2048   /* octets (RSA-8192 SPKI fits) */
size_t state_dkim_pubkey(const char *path, unsigned char out[STATE_DKIM_PUB_MAX], bool *ed25519,
    char *err, size_t errlen);
/* The p= value of the key in path: base64 of state_dkim_pubkey's octets.
 * malloc'd, or NULL + err. */
char *state_dkim_pubkey_b64(const char *path, char *err, size_t errlen);

#endif
