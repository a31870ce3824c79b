/*
 * dnscheck_dkim.c - the domain check: the DKIM key records of a domain's
 * selectors against the key files, and its DMARC record and alignment.
 * STANDARDS: RFC 6376 3.6.1 (key records: p= is a SubjectPublicKeyInfo
 * for RSA), RFC 8463 (Ed25519: p= is the raw 32-octet key), RFC 7489 6.3
 * (DMARC record), 3.1 (identifier alignment).
 * SECURITY: DNS answers are untrusted: keys are decoded into bounded
 * buffers and compared as octets, never as text. Private key files are
 * read only to derive their public half.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dnscheck/dnscheck.h"
#include "state/state_admin.h"


struct dnscheck_key {
	char          selector[STATE_SELECTOR_MAX + 1], algo[16], path[4096];
	bool          signing;
	bool          ed25519;
	unsigned char pub[STATE_DKIM_PUB_MAX];      /* what p= must decode to */
	size_t        publen;
};

/* The public half of the key file as DKIM publishes it; false + why. */
static bool
dnscheck_key_public(struct dnscheck_key *key, char *why, size_t wlen)
{
	key->publen = state_dkim_pubkey(key->path, key->pub, &key->ed25519, why, wlen);
	return key->publen > 0;
}

/* Does this TXT record publish key? DNSCHECK_OK, or WRONG with why. */
static enum dnscheck_status
dnscheck_key_record(const struct dnscheck_key *key, const char *rec, char *why, size_t wlen)
{
	char p[DNS_TXT_MAX + 1] = "";
	unsigned char bin[STATE_DKIM_PUB_MAX];
	char kt[32];
	size_t binlen = 0;
	const char *end = NULL;

	if (dnscheck_tag_get(rec, "v", kt, sizeof(kt)) && strcmp(kt, "DKIM1") != 0) {
		snprintf(why, wlen, "v=%s, not DKIM1", kt);
		return DNSCHECK_WRONG;
	}
	if (!dnscheck_tag_get(rec, "k", kt, sizeof(kt)))
		snprintf(kt, sizeof(kt), "rsa");
	if (strcasecmp(kt, key->ed25519 ? "ed25519" : "rsa") != 0) {
		snprintf(why, wlen, "k=%s but the key is %s", kt, key->ed25519 ? "ed25519" : "rsa");
		return DNSCHECK_WRONG;
	}
	if (!dnscheck_tag_get(rec, "p", p, sizeof(p)) || p[0] == '\0') {
		snprintf(why, wlen, "no public key (p= %s)", p[0] == '\0' ? "empty: revoked" : "absent");
		return DNSCHECK_WRONG;
	}
	if (sodium_base642bin(bin, sizeof(bin), p, strlen(p), " \t\r\n", &binlen, &end,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || end != p + strlen(p)) {
		snprintf(why, wlen, "p= is not valid base64");
		return DNSCHECK_WRONG;
	}
	if (binlen != key->publen || sodium_memcmp(bin, key->pub, binlen) != 0) {
		snprintf(why, wlen, "p= is a different key than %.400s", key->path);
		return DNSCHECK_WRONG;
	}
	return DNSCHECK_OK;
}

/* One selector: its record must exist and carry the key file's public key. */
static void
dnscheck_dkim_one(struct dnscheck *k, struct dnscheck_key *key)
{
	char name[DNS_NAME_MAX + 2], what[DNS_NAME_MAX + 32], why[512] = "", err[512];
	enum dnscheck_status s = DNSCHECK_MISSING;
	enum dns_status st;

	snprintf(name, sizeof(name), "%s._domainkey.%s", key->selector, k->domain);
	snprintf(what, sizeof(what), "dkim %s", name);
	if (!dnscheck_key_public(key, why, sizeof(why))) {
		dnscheck_say(k, DNSCHECK_WRONG, what, "%s", why);
		return;
	}
	st = dns_rr_lookup(k->r, name, DNS_T_TXT, k->set, err, sizeof(err));
	for (size_t i = 0; st == DNS_OK && i < k->set->n && s != DNSCHECK_OK; i++)
		s = dnscheck_key_record(key, (const char *)k->set->rr[i].data, why, sizeof(why));
	if (s == DNSCHECK_OK)
		dnscheck_say(k, s, what, "%s key matches %s%s", key->algo, key->path,
		    key->signing ? "" : " (not signing)");
	else if (!key->signing)
		dnscheck_say(k, DNSCHECK_OK, what, "not signing; %s", st == DNS_OK ? why : "not published");
	else if (st == DNS_OK)
		dnscheck_say(k, DNSCHECK_WRONG, what, "%s", why);
	else
		dnscheck_say(k, st == DNS_TEMPFAIL ? DNSCHECK_WRONG : DNSCHECK_MISSING, what,
		    "no TXT record (%s): publish the record `ferryctl domain dns %s` prints",
		    dns_status_name(st), k->domain);
}

struct dnscheck_dkim_walk {
	struct dnscheck *k;
	size_t        n;
};

static void
dnscheck_dkim_each(void *arg, const struct state_dkim_info *info)
{
	struct dnscheck_dkim_walk *w = arg;
	struct dnscheck_key key;

	memset(&key, 0, sizeof(key));
	snprintf(key.selector, sizeof(key.selector), "%s", info->selector);
	snprintf(key.algo, sizeof(key.algo), "%s", info->algo);
	state_file_path(w->k->st, info->path, key.path, sizeof(key.path));
	key.signing = info->signing;
	w->k->signing += key.signing;
	w->n++;
	dnscheck_dkim_one(w->k, &key);
}

/* Every selector of the domain in the state. 0, or -1 + err (database). */
int
dnscheck_dkim(struct dnscheck *k, char *err, size_t errlen)
{
	struct dnscheck_dkim_walk w = { k, 0 };

	if (state_dkim_key_list(k->st, k->domain, dnscheck_dkim_each, &w, err, errlen) != 0)
		return -1;
	if (w.n == 0)
		dnscheck_say(k, DNSCHECK_MISSING, "dkim", "no DKIM keys for %s in the state database "
		    "(ferryctl domain rotate-key makes new ones)", k->domain);
	return 0;
}

/* ---- DMARC -------------------------------------------------------------- */

/* Is rp the domain (strict) or the domain or a subdomain of it (relaxed)? */
static bool
dnscheck_aligned(const char *rp, const char *domain, bool strict)
{
	size_t rl = strlen(rp), dl = strlen(domain);

	if (strcasecmp(rp, domain) == 0)
		return true;
	return !strict && rl > dl && rp[rl - dl - 1] == '.' && strcasecmp(rp + rl - dl, domain) == 0;
}

/* Which identifiers align with the From domain (RFC 7489 3.1). */
static void
dnscheck_dmarc_alignment(struct dnscheck *k, const char *rec)
{
	char adkim[8] = "r", aspf[8] = "r";
	const char *rp = k->tenant.bounce_domain[0] != '\0' ? k->tenant.bounce_domain : k->domain;
	bool dkim_ok, spf_ok;

	dnscheck_tag_get(rec, "adkim", adkim, sizeof(adkim));
	dnscheck_tag_get(rec, "aspf", aspf, sizeof(aspf));
	/* ferry signs with d= the domain itself (the keys belong to it) */
	dkim_ok = k->signing > 0;
	spf_ok = dnscheck_aligned(rp, k->domain, strcasecmp(aspf, "s") == 0);
	if (dkim_ok)
		dnscheck_say(k, DNSCHECK_OK, "dmarc dkim alignment", "signatures carry d=%s, the From domain "
		    "(adkim=%s)", k->domain, adkim);
	else
		dnscheck_say(k, spf_ok ? DNSCHECK_OK : DNSCHECK_WRONG, "dmarc dkim alignment",
		    "no signing DKIM key for %s: DMARC cannot pass by DKIM", k->domain);
	dnscheck_say(k, spf_ok || dkim_ok ? DNSCHECK_OK : DNSCHECK_WRONG, "dmarc spf alignment",
	    "return path domain %s%s %s with %s (aspf=%s)%s", rp,
	    k->tenant.bounce_domain[0] != '\0' ? " (tenant's bounce domain, VERP)" : " (the sender's)",
	    spf_ok ? "aligns" : "does not align", k->domain, aspf,
	    spf_ok || !dkim_ok ? "" : "; DMARC relies on DKIM");
}

/* _dmarc.DOMAIN: exactly one record starting v=DMARC1, with a valid p=. */
void
dnscheck_dmarc(struct dnscheck *k)
{
	char name[DNS_NAME_MAX + 2], what[DNS_NAME_MAX + 16], err[512], p[32];
	const char *rec = NULL;
	size_t n = 0;
	enum dns_status st;

	snprintf(name, sizeof(name), "_dmarc.%s", k->domain);
	snprintf(what, sizeof(what), "dmarc %s", name);
	st = dns_rr_lookup(k->r, name, DNS_T_TXT, k->set, err, sizeof(err));
	for (size_t i = 0; st == DNS_OK && i < k->set->n; i++) {
		const char *t = (const char *)k->set->rr[i].data;
		/* v=DMARC1 must be the first tag (RFC 7489 6.3) */
		if (strncmp(t, "v=DMARC1", 8) == 0 && (t[8] == '\0' || t[8] == ';' || t[8] == ' ')) {
			rec = t;
			n++;
		}
	}
	if (n == 0) {
		dnscheck_say(k, st == DNS_TEMPFAIL ? DNSCHECK_WRONG : DNSCHECK_MISSING, what,
		    "no v=DMARC1 record (%s)", st == DNS_OK ? "TXT records without v=DMARC1" :
		    dns_status_name(st));
		return;
	}
	if (n > 1) {
		dnscheck_say(k, DNSCHECK_WRONG, what, "%zu v=DMARC1 records: receivers ignore them all", n);
		return;
	}
	if (!dnscheck_tag_get(rec, "p", p, sizeof(p)))
		dnscheck_say(k, DNSCHECK_WRONG, what, "no p= policy tag");
	else if (strcmp(p, "none") != 0 && strcmp(p, "quarantine") != 0 && strcmp(p, "reject") != 0)
		dnscheck_say(k, DNSCHECK_WRONG, what, "p=%s is not none, quarantine or reject", p);
	else
		dnscheck_say(k, DNSCHECK_OK, what, "p=%s%s", p, strcmp(p, "none") == 0 ? " (monitoring only)" : "");
	dnscheck_dmarc_alignment(k, rec);
}
