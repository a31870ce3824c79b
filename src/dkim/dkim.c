/*
 * dkim.c - DKIM signatures for outgoing mail: relaxed/relaxed
 * canonicalization, body hash streamed from the spool, RSA-SHA256
 * (RFC 6376) or Ed25519-SHA256 (RFC 8463), From: oversigned.
 * STANDARDS: RFC 6376 3.4.2 (relaxed header), 3.4.4 (relaxed body), 3.5
 * (tags), 3.7 (hash computation), 5.4.2 (header instances); RFC 8463.
 * SECURITY: the key file must belong to no group or world (mode & 077 ==
 * 0); message octets are only hashed; the header section read for signing
 * is capped (DKIM_HEADERS_MAX) and a message beyond it goes out unsigned.
 */
#include "dkim/dkim.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/xmalloc.h"

#define DKIM_HEADERS_MAX (256 * 1024)
#define DKIM_CHUNK       16384

struct dkim_key {
	EVP_PKEY *pkey;
	bool      ed25519;
	char      domain[256];
	char      selector[64];
};

/* Header fields signed when present (RFC 6376 5.4.1); From once more.
 * The one-click unsubscribe pair comes right after From: h= is bounded,
 * and RFC 8058 4 needs both signed, whatever fills the rest (a message
 * with a hundred References: fields). */
static const char *const dkim_sign_headers[] = {
	"from", "list-unsubscribe", "list-unsubscribe-post", "to", "cc", "subject", "date",
	"message-id", "reply-to", "in-reply-to", "references", "mime-version", "content-type",
	"content-transfer-encoding",
};

/* ---- keys ---------------------------------------------------------------- */

struct dkim_key *
dkim_key_load(const char *domain, const char *selector, const char *path, char *err, size_t errlen)
{
	struct dkim_key *k;
	struct stat st;
	FILE *f;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s: readable or writable by group or others (chmod 600 it)", path);
		close(fd);
		return NULL;
	}
	f = fdopen(fd, "r");
	k = xcalloc(1, sizeof(*k));
	k->pkey = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f != NULL)
		fclose(f);
	else
		close(fd);
	if (k->pkey == NULL || (EVP_PKEY_id(k->pkey) != EVP_PKEY_RSA && EVP_PKEY_id(k->pkey) != EVP_PKEY_ED25519) ||
	    (EVP_PKEY_id(k->pkey) == EVP_PKEY_RSA && EVP_PKEY_bits(k->pkey) < 1024) ||
	    strlen(domain) >= sizeof(k->domain) || strlen(selector) >= sizeof(k->selector)) {
		snprintf(err, errlen, "%s: not a usable DKIM key (PEM RSA of 1024 bits or more, or Ed25519)", path);
		dkim_key_free(k);
		return NULL;
	}
	k->ed25519 = EVP_PKEY_id(k->pkey) == EVP_PKEY_ED25519;
	snprintf(k->domain, sizeof(k->domain), "%s", domain);
	snprintf(k->selector, sizeof(k->selector), "%s", selector);
	return k;
}

void
dkim_key_free(struct dkim_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}


/* ---- canonicalization ------------------------------------------------------ */

/* Relaxed body canonicalization (RFC 6376 3.4.4), fed in pieces. */
struct dkim_body {
	EVP_MD_CTX *md;
	bool        wsp, content;    /* WSP pending in the line; the line has content */
	size_t      empty;           /* empty lines not yet known not to be trailing */
	char        out[2 * DKIM_CHUNK + 8];
	size_t      outlen;
};

static void
body_emit(struct dkim_body *b, const char *s, size_t n)
{
	if (b->outlen + n > sizeof(b->out)) {
		EVP_DigestUpdate(b->md, b->out, b->outlen);
		b->outlen = 0;
	}
	memcpy(b->out + b->outlen, s, n);
	b->outlen += n;
}

static void
body_feed(struct dkim_body *b, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c == '\r')
			continue;                    /* the spool holds CRLF only */
		if (c == '\n') {
			if (b->content)
				body_emit(b, "\r\n", 2);
			else
				b->empty++;
			b->content = b->wsp = false;
		} else if (c == ' ' || c == '\t')
			b->wsp = true;
		else {
			if (!b->content)
				for (; b->empty > 0; b->empty--)
					body_emit(b, "\r\n", 2);
			if (b->wsp)
				body_emit(b, " ", 1);
			body_emit(b, &c, 1);
			b->content = true;
			b->wsp = false;
		}
	}
}

static void
body_end(struct dkim_body *b, unsigned char hash[32])
{
	unsigned int len = 32;

	if (b->content)
		body_emit(b, "\r\n", 2);
	EVP_DigestUpdate(b->md, b->out, b->outlen);
	EVP_DigestFinal_ex(b->md, hash, &len);
}

/* Append the relaxed form of one header field (name:value, folded lines) to out. */
static void
header_relaxed(const char *f, size_t n, char *out, size_t *olen)
{
	size_t i = 0, o = *olen;
	bool wsp = false, started = false;

	for (; i < n && f[i] != ':'; i++)
		if (f[i] != ' ' && f[i] != '\t')
			out[o++] = (char)((f[i] >= 'A' && f[i] <= 'Z') ? f[i] + 32 : f[i]);
	out[o++] = ':';
	for (i++; i < n; i++) {
		char c = f[i];
		if (c == '\r' || c == '\n')
			continue;                    /* unfold */
		if (c == ' ' || c == '\t') {
			wsp = true;
			continue;
		}
		if (wsp && started)
			out[o++] = ' ';
		out[o++] = c;
		wsp = false;
		started = true;
	}
	memcpy(out + o, "\r\n", 2);
	*olen = o + 2;
}

/* ---- header section -------------------------------------------------------- */

struct dkim_field {
	const char *p;
	size_t      len;    /* without the final CRLF */
	size_t      namelen;
	bool        used;
};

/* Split the header section into fields; returns how many (at most max). */
static size_t
fields_split(const char *h, size_t len, struct dkim_field *f, size_t max)
{
	size_t n = 0, i = 0;

	while (i < len && n < max) {
		const char *start = h + i;
		size_t end = i;
		do {                             /* a field: its line and continuation lines */
			const char *nl = memchr(h + end, '\n', len - end);
			end = nl ? (size_t)(nl - h) + 1 : len;
		} while (end < len && (h[end] == ' ' || h[end] == '\t'));
		const char *colon = memchr(start, ':', end - i);
		if (colon != NULL) {
			f[n].p = start;
			f[n].len = end - i;
			while (f[n].len > 0 && (start[f[n].len - 1] == '\n' || start[f[n].len - 1] == '\r'))
				f[n].len--;
			f[n].namelen = (size_t)(colon - start);
			while (f[n].namelen > 0 && (start[f[n].namelen - 1] == ' ' || start[f[n].namelen - 1] == '\t'))
				f[n].namelen--;
			f[n].used = false;
			n++;
		}
		i = end;
	}
	return n;
}

/* The last not yet used instance of name (RFC 6376 5.4.2), or NULL. */
static struct dkim_field *
fields_take(struct dkim_field *f, size_t n, const char *name)
{
	size_t nl = strlen(name);

	for (size_t i = n; i-- > 0;)
		if (!f[i].used && f[i].namelen == nl && strncasecmp(f[i].p, name, nl) == 0) {
			f[i].used = true;
			return &f[i];
		}
	return NULL;
}

/* h= and the hash input for the selected fields; returns the input length. */
static size_t
fields_select(struct dkim_field *f, size_t n, char *hlist, size_t hsz, char *in)
{
	size_t olen = 0, hl = 0;

	hlist[0] = '\0';
	for (size_t k = 0; k < sizeof(dkim_sign_headers) / sizeof(*dkim_sign_headers); k++) {
		const char *name = dkim_sign_headers[k];
		size_t nl = strlen(name);
		struct dkim_field *x;
		/* h= is bounded: fields beyond it are simply not signed */
		while (hl + nl + 2 < hsz && (x = fields_take(f, n, name)) != NULL) {
			header_relaxed(x->p, x->len, in, &olen);
			hl += (size_t)snprintf(hlist + hl, hsz - hl, "%s%s", hl ? ":" : "", name);
		}
		if (strcmp(name, "from") == 0 && hl + nl + 2 < hsz)   /* oversign: no From may be added */
			hl += (size_t)snprintf(hlist + hl, hsz - hl, "%s%s", hl ? ":" : "", name);
	}
	return olen;
}

/* ---- signing ----------------------------------------------------------------- */

static int
dkim_finish(const struct dkim_key *k, struct dkim_field *f, size_t nf, const unsigned char bh[32],
    time_t now, char **out)
{
	char hlist[1024], bh64[64], head[2048];
	size_t total = 0;

	for (size_t i = 0; i < nf; i++)
		total += f[i].len + 4;
	char *in = xmalloc(total + sizeof(head) + 64);
	size_t inlen = fields_select(f, nf, hlist, sizeof(hlist), in);
	EVP_EncodeBlock((unsigned char *)bh64, bh, 32);
	int hn = snprintf(head, sizeof(head), "DKIM-Signature: v=1; a=%s; c=relaxed/relaxed; d=%s; s=%s;\r\n"
	    "\tt=%lld; h=%s;\r\n\tbh=%s;\r\n\tb=", k->ed25519 ? "ed25519-sha256" : "rsa-sha256", k->domain,
	    k->selector, (long long)now, hlist, bh64);
	if (hn < 0 || (size_t)hn >= sizeof(head)) {
		free(in);
		return -1;
	}
	header_relaxed(head, (size_t)hn, in, &inlen);
	inlen -= 2;                              /* the signature header goes in without CRLF */

	unsigned char sig[1024], digest[32];
	size_t siglen = sizeof(sig);
	unsigned int dl = 32;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;
	if (k->ed25519) {
		ok = EVP_Digest(in, inlen, digest, &dl, EVP_sha256(), NULL) == 1 &&
		    EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
		    EVP_DigestSign(ctx, sig, &siglen, digest, 32) == 1;
	} else
		ok = EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
		    EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)in, inlen) == 1;
	EVP_MD_CTX_free(ctx);
	free(in);
	if (!ok || siglen > 512)
		return -1;

	char b64[700];
	int bl = EVP_EncodeBlock((unsigned char *)b64, sig, (int)siglen);
	char *h = xmalloc((size_t)hn + (size_t)bl + (size_t)bl / 64 * 3 + 8);
	size_t o = (size_t)hn;
	memcpy(h, head, o);
	for (int i = 0; i < bl; i += 64) {       /* fold inside b= (its FWS is ignored) */
		if (i > 0) {
			memcpy(h + o, "\r\n\t", 3);
			o += 3;
		}
		size_t n = (size_t)(bl - i < 64 ? bl - i : 64);
		memcpy(h + o, b64 + i, n);
		o += n;
	}
	memcpy(h + o, "\r\n", 3);
	*out = h;
	return 0;
}

/* Where the header section ends (after its blank line); len if it never
 * does. A message that starts with the blank line has no header section:
 * "From:" lines after it are body, never fields to sign. */
static size_t
headers_end(const char *m, size_t len)
{
	if (len >= 2 && m[0] == '\r' && m[1] == '\n')
		return 2;
	if (len >= 1 && m[0] == '\n')
		return 1;
	for (size_t i = 0; i + 1 < len; i++)
		if (m[i] == '\n' && (m[i + 1] == '\n' || (m[i + 1] == '\r' && i + 2 < len && m[i + 2] == '\n')))
			return m[i + 1] == '\n' ? i + 2 : i + 3;
	return len;
}

/* The domain of the first From: field's (last) address, lowercased; false if none. */
static bool
from_domain(const struct dkim_field *f, size_t nf, char *out, size_t outsz)
{
	for (size_t i = 0; i < nf; i++) {
		if (f[i].namelen != 4 || strncasecmp(f[i].p, "from", 4) != 0)
			continue;
		const char *at = NULL, *end = f[i].p + f[i].len;
		for (const char *p = f[i].p + 5; p < end; p++)
			if (*p == '@')
				at = p;
		size_t d = 0;
		for (at = at ? at + 1 : end; at < end && d + 1 < outsz && strchr(">), ;\r\n\t\"", *at) == NULL; at++)
			out[d++] = (char)((*at >= 'A' && *at <= 'Z') ? *at + 32 : *at);
		out[d] = '\0';
		return d > 0;
	}
	return false;
}

/* Is domain key_domain itself or one of its subdomains? */
static bool
domain_covers(const char *key_domain, const char *domain)
{
	size_t kl = strlen(key_domain), dl = strlen(domain);

	return strcasecmp(key_domain, domain) == 0 ||
	    (dl > kl && domain[dl - kl - 1] == '.' && strcasecmp(domain + dl - kl, key_domain) == 0);
}

/* The header section split into fields (*nf of them), the caller frees. */
static struct dkim_field *
dkim_fields(const char *head, size_t hend, size_t *nf)
{
	size_t maxf = hend / 2 + 1;
	struct dkim_field *f = xcalloc(maxf, sizeof(*f));

	*nf = fields_split(head, hend, f, maxf);
	return f;
}

/* Does any key cover the From: domain? Asked before the body is read: a
 * message no key applies to costs no body hash. */
static bool
dkim_keys_apply(struct dkim_key *const *keys, size_t nkeys, const char *domain)
{
	for (size_t k = 0; k < nkeys; k++)
		if (domain_covers(keys[k]->domain, domain))
			return true;
	return false;
}

/* One signature per key that covers domain, all over one body hash. */
static int
dkim_sign_all(struct dkim_key *const *keys, size_t nkeys, struct dkim_field *f, size_t nf,
    const char *domain, const unsigned char bh[32], time_t now, char **out)
{
	size_t alen = 0;
	char *all = NULL, *sig;
	int rc = 0;

	for (size_t k = 0; k < nkeys && rc == 0; k++) {
		if (!domain_covers(keys[k]->domain, domain))
			continue;
		for (size_t i = 0; i < nf; i++)
			f[i].used = false;
		if ((rc = dkim_finish(keys[k], f, nf, bh, now, &sig)) < 0)
			break;
		size_t sl = strlen(sig);
		all = xrealloc(all, alen + sl + 1);
		memcpy(all + alen, sig, sl + 1);
		alen += sl;
		free(sig);
	}
	if (rc < 0) {
		free(all);
		all = NULL;
	}
	*out = all;
	return rc;
}

/* The body hash (relaxed) of the octets after the header section. */
static void
body_hash_start(struct dkim_body *b)
{
	memset(b, 0, sizeof(*b));
	b->md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(b->md, EVP_sha256(), NULL);
}

int
dkim_sign_buf(struct dkim_key *const *keys, size_t nkeys, const char *msg, size_t len, time_t now,
    char **out)
{
	size_t hend = headers_end(msg, len), nf;
	struct dkim_field *f = dkim_fields(msg, hend, &nf);
	struct dkim_body *b;
	unsigned char bh[32];
	char domain[256];
	int rc = 0;

	*out = NULL;
	if (from_domain(f, nf, domain, sizeof(domain)) && dkim_keys_apply(keys, nkeys, domain)) {
		b = xmalloc(sizeof(*b));
		body_hash_start(b);
		body_feed(b, msg + hend, len - hend);
		body_end(b, bh);
		EVP_MD_CTX_free(b->md);
		free(b);
		rc = dkim_sign_all(keys, nkeys, f, nf, domain, bh, now, out);
	}
	free(f);
	return rc;
}

struct dkim_keys_fixed {
	struct dkim_key *const *keys;
	size_t                  n;
};

/* A dkim_keys_fn for one fixed set of keys. */
static size_t
dkim_keys_fixed(void *arg, const char *domain, struct dkim_key *const **keys)
{
	const struct dkim_keys_fixed *kf = arg;

	(void)domain;
	*keys = kf->keys;
	return kf->n;
}

int
dkim_sign_fd(struct dkim_key *const *keys, size_t nkeys, int fd, off_t off, uint64_t len, time_t now,
    char **out)
{
	struct dkim_keys_fixed kf = { keys, nkeys };

	return dkim_sign_fd_with(dkim_keys_fixed, &kf, fd, off, len, now, out);
}

/* A message read for signing: its header section, the body hash and the
 * keys that apply, kept to sign it again with header lines added. */
struct dkim_prep {
	char              *head;        /* the header section, hend octets */
	size_t             hend;
	unsigned char      bh[32];
	char               domain[256]; /* the From: domain */
	struct dkim_key  **keys;        /* own references to the keys that cover domain */
	size_t             nkeys;
};

/* A reference of its own to k (the caller's may go before the prep does). */
static struct dkim_key *
dkim_key_ref(const struct dkim_key *k)
{
	struct dkim_key *c = xmalloc(sizeof(*c));

	*c = *k;
	EVP_PKEY_up_ref(c->pkey);
	return c;
}

/* The keys of fn that cover domain, referenced into p. */
static void
dkim_prep_keys(struct dkim_prep *p, dkim_keys_fn fn, void *arg)
{
	struct dkim_key *const *keys;
	size_t n = fn(arg, p->domain, &keys);

	p->keys = xcalloc(n ? n : 1, sizeof(*p->keys));
	for (size_t i = 0; i < n; i++)
		if (domain_covers(keys[i]->domain, p->domain))
			p->keys[p->nkeys++] = dkim_key_ref(keys[i]);
}

/* Hash the body: the rest of head after hend, then the file from done on. */
static int
dkim_prep_body(struct dkim_prep *p, const char *head, size_t want, int fd, off_t off, uint64_t len)
{
	struct dkim_body *b = xmalloc(sizeof(*b));
	char *chunk = xmalloc(DKIM_CHUNK);
	int rc = 0;

	body_hash_start(b);
	body_feed(b, head + p->hend, want - p->hend);
	for (uint64_t done = want; done < len && rc == 0;) {
		size_t w = len - done > DKIM_CHUNK ? DKIM_CHUNK : (size_t)(len - done);
		ssize_t r = pread(fd, chunk, w, off + (off_t)done);
		if (r <= 0)
			rc = -1;
		else {
			body_feed(b, chunk, (size_t)r);
			done += (uint64_t)r;
		}
	}
	if (rc == 0)
		body_end(b, p->bh);
	EVP_MD_CTX_free(b->md);
	free(b);
	free(chunk);
	return rc;
}

int
dkim_prep_fd_with(dkim_keys_fn fn, void *arg, int fd, off_t off, uint64_t len, struct dkim_prep **out)
{
	size_t want = len < DKIM_HEADERS_MAX ? (size_t)len : DKIM_HEADERS_MAX, nf;
	char *head = xmalloc(want + 1);
	ssize_t n = pread(fd, head, want, off);
	struct dkim_field *f;
	struct dkim_prep *p;

	*out = NULL;
	if (n != (ssize_t)want) {
		free(head);
		return -1;
	}
	p = xcalloc(1, sizeof(*p));
	p->hend = headers_end(head, want);
	if (p->hend == want && want < len) {     /* headers too long to sign */
		free(head);
		free(p);
		return -1;
	}
	f = dkim_fields(head, p->hend, &nf);
	/* no From: domain, or no key for it: leave the body unread */
	if (from_domain(f, nf, p->domain, sizeof(p->domain)))
		dkim_prep_keys(p, fn, arg);
	free(f);
	if (p->nkeys > 0 && dkim_prep_body(p, head, want, fd, off, len) != 0) {
		free(head);
		dkim_prep_free(p);
		return -1;
	}
	p->head = xrealloc(head, p->hend + 1);
	*out = p;
	return 0;
}

bool
dkim_prep_has_field(const struct dkim_prep *p, const char *name)
{
	size_t nf;
	struct dkim_field *f = dkim_fields(p->head, p->hend, &nf);
	bool found = fields_take(f, nf, name) != NULL;

	free(f);
	return found;
}

int
dkim_prep_sign(const struct dkim_prep *p, const char *extra, time_t now, char **out)
{
	size_t el = strlen(extra), nf;
	char *all;
	struct dkim_field *f;
	int rc;

	*out = NULL;
	if (p->nkeys == 0)
		return 0;
	/* the added lines come first, as they are sent */
	all = xmalloc(el + p->hend + 1);
	memcpy(all, extra, el);
	memcpy(all + el, p->head, p->hend);
	f = dkim_fields(all, el + p->hend, &nf);
	rc = dkim_sign_all(p->keys, p->nkeys, f, nf, p->domain, p->bh, now, out);
	free(f);
	free(all);
	return rc;
}

void
dkim_prep_free(struct dkim_prep *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nkeys; i++)
		dkim_key_free(p->keys[i]);
	free(p->keys);
	free(p->head);
	free(p);
}

int
dkim_sign_fd_with(dkim_keys_fn fn, void *arg, int fd, off_t off, uint64_t len, time_t now,
    char **out)
{
	struct dkim_prep *p;
	int rc;

	*out = NULL;
	if (dkim_prep_fd_with(fn, arg, fd, off, len, &p) != 0)
		return -1;
	rc = dkim_prep_sign(p, "", now, out);
	dkim_prep_free(p);
	return rc;
}
