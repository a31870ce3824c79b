/*
 * dnscheck.h - a tenant's sender domain and the DNS: the records to
 * publish for this relay (DKIM, SPF, DMARC, the bounce domain's MX and
 * SPF) and what the DNS says about them. One implementation for
 * `ferryctl domain dns|check` (which print) and the HTTP API's
 * /v1/domains/{domain} (which answers JSON): findings and records are
 * handed to the caller's function, never printed here.
 * STANDARDS: RFC 6376 / 8463 (DKIM keys), RFC 7208 (SPF), RFC 7489 (DMARC).
 * SECURITY: DNS answers are untrusted: decoded into bounded buffers,
 * compared as octets and only reported. The state database is read, never
 * changed; private key files are read only for their public half.
 */
#ifndef FERRY_DNSCHECK_DNSCHECK_H
#define FERRY_DNSCHECK_DNSCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf.h"
#include "dns/dns.h"
#include "state/state.h"

/* ---- the addresses a tenant's mail leaves from (dnscheck_sources.c) ---- */
#define DNSCHECK_SOURCES_MAX 64
struct dnscheck_sources {
	const struct conf *conf;
	char               addr[DNSCHECK_SOURCES_MAX][48];   /* IP literals, each once */
	size_t             n;
	size_t             pools;          /* pools named by the tenant and its connectors */
	char               missing[256];   /* a pool not in ferry.conf, for the report */
};
/* Add ip unless already there (dropped when full). */
void dnscheck_sources_add(struct dnscheck_sources *s, const char *ip);
/* Add the addresses of pool (the tenant's own; "" none) and of the pools of
 * tenant's connectors, as s->conf defines them. 0, or -1 with err when the
 * connectors cannot be read. */
int dnscheck_sources_pools(struct dnscheck_sources *s, struct state *st, const char *tenant,
    const char *pool, char *err, size_t errlen);

/* ---- the records to publish (dnscheck_records.c) ---- */
struct dnscheck_record {
	const char *kind;       /* "dkim", "spf", "dmarc", "bounce-mx", "bounce-spf" */
	const char *name;       /* owner name, no trailing dot */
	const char *type;       /* "TXT" or "MX" */
	const char *value;      /* TXT: the whole text (not yet cut into 255-octet strings);
	                           MX: "10 host." ; NULL: nothing to publish, note says why */
	const char *note;       /* for the operator, "" none */
	const char *selector;   /* dkim: its selector, else "" */
	bool        signing;    /* dkim: the key signs new mail */
};
typedef void (*dnscheck_record_fn)(void *arg, const struct dnscheck_record *rec);
/* A problem while building them (a key file unreadable, a pool missing). */
typedef void (*dnscheck_warn_fn)(void *arg, const char *msg);

/* The records for domain (a tenant's sender domain, as typed), in the
 * order ferryctl prints them. -1 with err (not a sender domain, database),
 * else the number of problems warn was told of that leave a record out. */
int dnscheck_records(struct state *st, const struct conf *c, const char *domain,
    dnscheck_record_fn fn, dnscheck_warn_fn warn, void *arg, char *err, size_t errlen);

/* ---- the check (dnscheck.c, dnscheck_dkim.c) ---- */
enum dnscheck_status { DNSCHECK_OK, DNSCHECK_MISSING, DNSCHECK_WRONG };
/* "ok", "missing", "wrong". */
const char *dnscheck_status_name(enum dnscheck_status s);

/* SPF evaluation of domain for mail from ip (ferryctl's, with libspf2):
 * fills result ("pass", "fail", ...) and why. */
enum dnscheck_spf { DNSCHECK_SPF_PASS, DNSCHECK_SPF_NONE, DNSCHECK_SPF_OTHER, DNSCHECK_SPF_SKIPPED };
typedef enum dnscheck_spf (*dnscheck_spf_fn)(struct dns_resolver *r, const char *helo,
    const char *domain, const char *ip, char *result, size_t rlen, char *why, size_t wlen);
/* One finding: what ("spf example.com 192.0.2.1", "dkim rsa1._domainkey.x")
 * and a message for people. */
typedef void (*dnscheck_say_fn)(void *arg, enum dnscheck_status s, const char *what, const char *msg);

struct dnscheck {
	/* set by the caller */
	const struct conf   *conf;
	struct state        *st;
	struct dns_resolver *r;
	const char          *domain;          /* lowercase, no trailing dot */
	dnscheck_say_fn      say;
	void                *arg;
	dnscheck_spf_fn      spf_eval;        /* NULL: the SPF record's presence only */
	/* filled by dnscheck_begin and the checks */
	struct state_tenant  tenant;
	struct dnscheck_sources src;          /* the relay's source addresses */
	const char          *from;            /* where they came from: "pools", "outbound_source",
	                                         "hostname" (a guess) */
	size_t               signing;         /* signing DKIM keys in the state */
	size_t               bad;             /* findings missing or wrong */
	struct dns_rrset    *set;             /* scratch for lookups (dnscheck_begin allocates) */
};

/* Find the domain's tenant and the source addresses. 0, or -1 with err
 * (not a sender domain, database, memory). dnscheck_end frees what it took. */
int dnscheck_begin(struct dnscheck *k, char *err, size_t errlen);
/* Every check in turn, each finding to k->say: pools, SPF, DKIM, DMARC and
 * alignment, bounce domain. 0, or -1 with err (database). */
int dnscheck_run(struct dnscheck *k, char *err, size_t errlen);
void dnscheck_end(struct dnscheck *k);

/* Report a finding (counts the bad ones). */
void dnscheck_say(struct dnscheck *k, enum dnscheck_status s, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* "k=v; k=v" tag lists (RFC 6376 3.2, RFC 7489 6.3): the value of tag in
 * rec (whitespace around it removed) into val; false when absent. */
bool dnscheck_tag_get(const char *rec, const char *tag, char *val, size_t size);

/* dnscheck_dkim.c */
int dnscheck_dkim(struct dnscheck *k, char *err, size_t errlen);
void dnscheck_dmarc(struct dnscheck *k);

#endif
