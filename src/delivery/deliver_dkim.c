/*
 * deliver_dkim.c - the DKIM-Signature headers of the message being
 * delivered: made once per delivery attempt (not once per destination
 * domain) and only when a recipient goes out over SMTP. A tenant's mail is
 * signed with the keys of the tenant's domain that covers its From:
 * (state_dkim_keys); other mail with the dkim_sign keys of the
 * configuration. Tenant keys are read once per file and kept, shared by
 * the delivery threads, and read again when the file changes (rotation).
 * A message that cannot be signed goes out unsigned and is logged, never
 * held back or lost.
 * SECURITY: key files are loaded by dkim_key_load (mode 0600, no symlink);
 * their paths come from the state database, which only ferryctl writes.
 */
#include "delivery/deliver_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dkim/dkim.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define DKIM_CACHE_MAX  512    /* key files kept loaded */
#define DKIM_TENANT_MAX 8      /* keys one tenant's message is signed with */

/* A loaded key shared by the cache and the signers using it now. */
struct dkim_ref {
	struct dkim_key *key;
	int              refs;
};

struct dkim_cached {
	char            *path, *domain, *selector;
	dev_t            dev;
	ino_t            ino;
	off_t            size;
	struct timespec  mtime;
	struct dkim_ref *ref;
};

static pthread_mutex_t dkim_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dkim_cached dkim_cache[DKIM_CACHE_MAX];
static size_t ndkim_cache;

/* Forget the previous message's signatures. */
void
deliver_dkim_reset(struct deliver_ctx *d)
{
	free(d->dkim);
	d->dkim = NULL;
	d->dkim_done = false;
	dkim_prep_free(d->unsub_prep);
	d->unsub_prep = NULL;
}

/* Drop one reference (dkim_lock held). */
static void
dkim_ref_put(struct dkim_ref *r)
{
	if (r != NULL && --r->refs == 0) {
		dkim_key_free(r->key);
		free(r);
	}
}

static bool
dkim_cached_fresh(const struct dkim_cached *e, const struct stat *st)
{
	return e->ref != NULL && e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
	    e->mtime.tv_sec == st->st_mtim.tv_sec && e->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* The cache entry for (domain, selector, path) (dkim_lock held); NULL when full. */
static struct dkim_cached *
dkim_cached_find(const char *domain, const char *selector, const char *path)
{
	struct dkim_cached *e;

	for (size_t i = 0; i < ndkim_cache; i++) {
		e = &dkim_cache[i];
		if (strcmp(e->path, path) == 0 && strcmp(e->domain, domain) == 0 &&
		    strcmp(e->selector, selector) == 0)
			return e;
	}
	if (ndkim_cache == DKIM_CACHE_MAX)
		return NULL;
	e = &dkim_cache[ndkim_cache++];
	e->path = xstrdup(path);
	e->domain = xstrdup(domain);
	e->selector = xstrdup(selector);
	return e;
}

/* A reference to the key in path, loaded (again) if the file is new or
 * changed; NULL (logged) when it cannot be used. */
static struct dkim_ref *
dkim_ref_get(const char *domain, const char *selector, const char *path)
{
	struct dkim_cached *e;
	struct dkim_ref *r = NULL;
	struct dkim_key *k;
	struct stat st;
	char err[512];

	if (stat(path, &st) < 0) {
		log_warn("event=dkim-key-unusable domain=%s selector=%s path=%s reason=\"cannot stat\"",
		    domain, selector, path);
		return NULL;
	}
	pthread_mutex_lock(&dkim_lock);
	if ((e = dkim_cached_find(domain, selector, path)) != NULL && !dkim_cached_fresh(e, &st)) {
		if ((k = dkim_key_load(domain, selector, path, err, sizeof(err))) == NULL)
			log_warn("event=dkim-key-unusable domain=%s selector=%s reason=\"%s\"", domain, selector, err);
		else {
			dkim_ref_put(e->ref);
			e->ref = xcalloc(1, sizeof(*e->ref));
			e->ref->key = k;
			e->ref->refs = 1;        /* the cache's own */
			e->dev = st.st_dev;
			e->ino = st.st_ino;
			e->size = st.st_size;
			e->mtime = st.st_mtim;
		}
	}
	if (e != NULL && dkim_cached_fresh(e, &st)) {
		r = e->ref;
		r->refs++;
	}
	pthread_mutex_unlock(&dkim_lock);
	return r;
}

struct dkim_tenant_keys {
	struct deliver_ctx     *d;
	const struct spool_env *env;
	struct dkim_ref        *refs[DKIM_TENANT_MAX];
	struct dkim_key        *keys[DKIM_TENANT_MAX];
	size_t                  n;
};

/* A state_dkim_fn: take a reference to each signing key. */
static void
dkim_tenant_key_add(void *arg, const char *domain, const char *selector, const char *algo,
    const char *path)
{
	struct dkim_tenant_keys *tk = arg;
	struct dkim_ref *r;

	(void)algo;                /* the file says what it is */
	if (tk->n < DKIM_TENANT_MAX && (r = dkim_ref_get(domain, selector, path)) != NULL) {
		tk->refs[tk->n] = r;
		tk->keys[tk->n++] = r->key;
	}
}

/* A dkim_keys_fn: the tenant's keys for the From: domain (referenced in tk). */
static size_t
dkim_tenant_keys_get(void *arg, const char *from, struct dkim_key *const **keys)
{
	struct dkim_tenant_keys *tk = arg;

	if (state_dkim_keys(tk->d->h->state, tk->env->tenant_id, from, dkim_tenant_key_add, tk) < 0)
		log_warn("event=dkim-failed id=%s reason=\"cannot read the tenant's DKIM keys\"", tk->env->id);
	*keys = tk->keys;
	return tk->n;
}

/* Sign with the tenant's keys for the From: domain (no From: domain:
 * nothing to align with), reading the header section once. */
static void
dkim_tenant_sign(struct deliver_ctx *d, const struct spool_env *env, int fd)
{
	struct dkim_tenant_keys tk = { .d = d, .env = env, .n = 0 };

	if (dkim_sign_fd_with(dkim_tenant_keys_get, &tk, fd, env->content_off, env->content_len,
	    time(NULL), &d->dkim) < 0)
		log_warn("event=dkim-failed id=%s reason=\"cannot sign (header section too long, unreadable,"
		    " or signing failed)\"", env->id);
	pthread_mutex_lock(&dkim_lock);
	for (size_t i = 0; i < tk.n; i++)
		dkim_ref_put(tk.refs[i]);
	pthread_mutex_unlock(&dkim_lock);
}

/* A tenant that wants one-click unsubscribe headers: read the message
 * once (header section, body hash, keys) to sign it per recipient with
 * its own List-Unsubscribe (deliver_unsub.c). A message that already has
 * the header (the tenant's own list) is signed once, as any other. false:
 * not prepared (no public URL, unreadable): the usual signature. */
static bool
dkim_unsub_prepare(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env, int fd)
{
	struct dkim_tenant_keys tk = { .d = d, .env = env, .n = 0 };
	struct dkim_prep *p = NULL;
	int rc;

	if (c->http_public_url == NULL || c->http_public_url[0] == '\0')
		return false;
	rc = dkim_prep_fd_with(dkim_tenant_keys_get, &tk, fd, env->content_off, env->content_len, &p);
	pthread_mutex_lock(&dkim_lock);
	for (size_t i = 0; i < tk.n; i++)
		dkim_ref_put(tk.refs[i]);       /* the prep holds its own */
	pthread_mutex_unlock(&dkim_lock);
	if (rc != 0)
		return false;
	/* the tenant's own unsubscribe header (either of the pair): ferry adds
	 * neither, or the message would carry two */
	if (dkim_prep_has_field(p, "list-unsubscribe") || dkim_prep_has_field(p, "list-unsubscribe-post")) {
		if (dkim_prep_sign(p, "", time(NULL), &d->dkim) < 0)
			log_warn("event=dkim-failed id=%s reason=\"signing failed\"", env->id);
		dkim_prep_free(p);
		return true;
	}
	d->unsub_prep = p;
	return true;
}

/* The header(s) to send before env's content, or NULL (no key applies, or
 * signed per recipient: d->unsub_prep). */
const char *
deliver_dkim_prefix(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env, int fd)
{
	if (d->dkim_done)
		return d->dkim;
	d->dkim_done = true;
	/* A tenant's mail carries the tenant's signatures only, never the
	 * installation's (a tenant must not speak for the operator's domains). */
	if (d->tenant.found) {
		if (!d->tenant.unsub || !dkim_unsub_prepare(d, c, env, fd))
			dkim_tenant_sign(d, env, fd);
		return d->dkim;
	}
	if (c->ndkim == 0)
		return NULL;
	if (dkim_sign_fd(c->dkim_keys, c->ndkim, fd, env->content_off, env->content_len, time(NULL),
	    &d->dkim) < 0)
		log_warn("event=dkim-failed id=%s reason=\"cannot sign (header section too long, unreadable, or signing failed)\"",
		    env->id);
	return d->dkim;
}
