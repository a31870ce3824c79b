/*
 * state_dkimgen.c - DKIM key files of the tenants' domains: made at `domain
 * add` and `domain rotate-key` (RSA-2048 and Ed25519, RFC 6376 / RFC 8463),
 * removed at `domain retire-key` and `domain del`, and their public halves
 * for the DNS records (the p= tag).
 * SECURITY: private keys are written with O_EXCL|O_NOFOLLOW, mode 0600, in
 * directories 0700, owned by the owner of the database file (ferryd runs as
 * that user; ferryctl usually as root), fsynced before the row that names
 * them is committed. Each new key is loaded back with dkim_key_load, which
 * refuses a key others may read.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dkim/dkim.h"
#include "state/state_admin.h"
#include "state/state_admin_internal.h"
#include "util/fsutil.h"
#include "util/xmalloc.h"

/* Where the keys go and who owns them. */
struct dkg_place {
	char  dir[PATH_MAX];      /* <db dir>/dkim/<domain> */
	uid_t uid;
	gid_t gid;
};

/* A directory 0700 owned by p's owner (made if missing). */
static int
dkg_mkdir(const char *path, const struct dkg_place *p, char *err, size_t errlen)
{
	struct stat sb;
	int fd;

	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return adm_fail(err, errlen, "%s: cannot create: %s", path, strerror(errno));
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) != 0) {
		adm_fail(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if ((sb.st_uid != p->uid || sb.st_gid != p->gid) && fchown(fd, p->uid, p->gid) != 0) {
		adm_fail(err, errlen, "%s: cannot give it to uid %u: %s", path, (unsigned)p->uid,
		    strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* The last name of the key directory ("dkim" beside a SQLite file). */
static const char *
dkg_leaf(const char *key_dir)
{
	const char *slash;

	if (key_dir == NULL)
		return "dkim";
	slash = strrchr(key_dir, '/');
	return slash != NULL ? slash + 1 : key_dir;
}

/* Find (and with create, make) the key directory of domain. */
static int
dkg_place(struct state *st, const char *domain, bool create, struct dkg_place *p,
    char *err, size_t errlen)
{
	char dbpath[PATH_MAX], real[PATH_MAX], top[PATH_MAX];
	const char *kd = state_key_dir(st);
	struct stat sb;

	/* the keys belong to whoever owns the state file, or the key
	 * directory's parent (the spool: the run user) */
	snprintf(dbpath, sizeof(dbpath), "%s", kd != NULL ? kd : state_path(st));
	if (stat(dirname(dbpath), &sb) != 0 || (kd == NULL && stat(state_path(st), &sb) != 0))
		return adm_fail(err, errlen, "%s: %s", kd != NULL ? kd : state_path(st), strerror(errno));
	p->uid = sb.st_uid;
	p->gid = sb.st_gid;
	snprintf(dbpath, sizeof(dbpath), "%s", kd != NULL ? kd : state_path(st));
	if (realpath(dirname(dbpath), real) == NULL)
		return adm_fail(err, errlen, "%s: %s", dbpath, strerror(errno));
	if ((size_t)snprintf(top, sizeof(top), "%s/%s", real, dkg_leaf(kd)) >= sizeof(top) ||
	    (size_t)snprintf(p->dir, sizeof(p->dir), "%s/%s", top, domain) >= sizeof(p->dir))
		return adm_fail(err, errlen, "%s: key directory path too long", real);
	if (!create)
		return 0;
	if (dkg_mkdir(top, p, err, errlen) != 0 || dkg_mkdir(p->dir, p, err, errlen) != 0)
		return -1;
	fsutil_dir_sync(real);
	fsutil_dir_sync(top);
	return 0;
}

static EVP_PKEY *
dkg_keygen(const char *algo)
{
	if (strcmp(algo, "rsa") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
}

/* PEM PKCS#8 of pkey into a new file path, 0600, owned by p's owner. */
static int
dkg_write(EVP_PKEY *pkey, const char *path, const struct dkg_place *p, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	FILE *f;
	int rc = -1;

	if (fd < 0)
		return adm_fail(err, errlen, "%s: cannot create: %s", path, strerror(errno));
	if (fchmod(fd, 0600) != 0 || fchown(fd, p->uid, p->gid) != 0) {
		adm_fail(err, errlen, "%s: cannot set owner and mode: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		unlink(path);
		return adm_fail(err, errlen, "%s: %s", path, strerror(errno));
	}
	if (PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) == 1 && fflush(f) == 0 &&
	    fsync(fileno(f)) == 0)
		rc = 0;
	if (fclose(f) != 0 || rc != 0) {
		unlink(path);
		return adm_fail(err, errlen, "%s: cannot write the key", path);
	}
	return 0;
}

/* A new key file <dir>/<selector>.pem, checked by loading it as ferryd will. */
static int
dkg_make(const struct dkg_place *p, const char *domain, const char *selector, const char *algo,
    char *path, size_t pathsz, char *err, size_t errlen)
{
	char lerr[512];
	struct dkim_key *k;
	EVP_PKEY *pkey;
	int rc;

	if ((size_t)snprintf(path, pathsz, "%s/%s.pem", p->dir, selector) >= pathsz)
		return adm_fail(err, errlen, "%s: key path too long", p->dir);
	if ((pkey = dkg_keygen(algo)) == NULL)
		return adm_fail(err, errlen, "cannot generate a %s key", algo);
	rc = dkg_write(pkey, path, p, err, errlen);
	EVP_PKEY_free(pkey);
	if (rc != 0)
		return -1;
	fsutil_dir_sync(p->dir);
	if ((k = dkim_key_load(domain, selector, path, lerr, sizeof(lerr))) == NULL) {
		unlink(path);
		return adm_fail(err, errlen, "the new key does not load: %s", lerr);
	}
	dkim_key_free(k);
	return 0;
}

/* The two new keys of a domain: files and rows (in the caller's transaction). */
struct dkg_pair {
	char sel[2][STATE_SELECTOR_MAX + 1];
	char path[2][PATH_MAX];
	int  made;
};
static const char *const dkg_algos[2] = { "rsa", "ed25519" };

static void
dkg_pair_unlink(struct dkg_pair *k)
{
	for (int i = 0; i < k->made; i++)
		unlink(k->path[i]);
}

static int
dkg_pair_make(struct state *st, const char *domain, struct dkg_pair *k, char *err, size_t errlen)
{
	struct dkg_place p;

	k->made = 0;
	if (dkg_place(st, domain, true, &p, err, errlen) != 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		if (dkg_make(&p, domain, k->sel[i], dkg_algos[i], k->path[i], sizeof(k->path[i]),
		    err, errlen) != 0) {
			dkg_pair_unlink(k);
			return -1;
		}
		k->made++;
	}
	return 0;
}

static int
dkg_pair_rows(struct state *st, const char *domain, struct dkg_pair *k, char *err, size_t errlen)
{
	for (int i = 0; i < 2; i++)
		if (state_dkim_key_add(st, domain, k->sel[i], dkg_algos[i], k->path[i], true,
		    err, errlen) != 0)
			return -1;
	return 0;
}

int
state_domain_add_keys(struct state *st, const char *tenant, const char *domain,
    bool subdomains, char *err, size_t errlen)
{
	struct dkg_pair k = { .sel = { "rsa1", "ed1" } };
	char name[STATE_DOMAIN_MAX + 1];

	if (state_domain_norm(domain, name, sizeof(name)) != 0)
		return adm_fail(err, errlen, "invalid domain %s", domain);
	if (adm_begin(st, err, errlen) != 0)
		return -1;
	if (state_domain_add(st, tenant, name, subdomains, err, errlen) != 0) {
		adm_rollback(st);
		return -1;
	}
	if (dkg_pair_make(st, name, &k, err, errlen) != 0) {
		adm_rollback(st);
		return -1;
	}
	if (dkg_pair_rows(st, name, &k, err, errlen) != 0 || adm_commit(st, err, errlen) != 0) {
		adm_rollback(st);
		dkg_pair_unlink(&k);
		return -1;
	}
	return 0;
}

/* The highest N of the selectors "<stem>N" seen. */
struct dkg_max {
	int rsa, ed;
};

static void
dkg_max_fn(void *arg, const struct state_dkim_info *i)
{
	struct dkg_max *m = arg;
	int n = 0;

	if (sscanf(i->selector, "rsa%d", &n) == 1 && n > m->rsa)
		m->rsa = n;
	else if (sscanf(i->selector, "ed%d", &n) == 1 && n > m->ed)
		m->ed = n;
}

int
state_dkim_rotate(struct state *st, const char *domain, char *rsa_sel, char *ed_sel,
    char *err, size_t errlen)
{
	struct state_domain_info d;
	struct dkg_max m = { 0, 0 };
	struct dkg_pair k;

	if (state_domain_get(st, domain, &d, err, errlen) != 0 ||
	    state_dkim_key_list(st, d.name, dkg_max_fn, &m, err, errlen) != 0)
		return -1;
	snprintf(k.sel[0], sizeof(k.sel[0]), "rsa%d", m.rsa + 1);
	snprintf(k.sel[1], sizeof(k.sel[1]), "ed%d", m.ed + 1);
	if (adm_begin(st, err, errlen) != 0)
		return -1;
	if (dkg_pair_make(st, d.name, &k, err, errlen) != 0) {
		adm_rollback(st);
		return -1;
	}
	if (adm_exec(st, err, errlen, "UPDATE dkim_keys SET signing = 0 WHERE domain_id = ?1;",
	    "I", d.id) < 0 || dkg_pair_rows(st, d.name, &k, err, errlen) != 0 ||
	    adm_commit(st, err, errlen) != 0) {
		adm_rollback(st);
		dkg_pair_unlink(&k);
		return -1;
	}
	snprintf(rsa_sel, STATE_SELECTOR_MAX + 1, "%s", k.sel[0]);
	snprintf(ed_sel, STATE_SELECTOR_MAX + 1, "%s", k.sel[1]);
	return 0;
}

int
state_dkim_retire(struct state *st, const char *domain, const char *selector,
    char *err, size_t errlen)
{
	char path[PATH_MAX], copy[PATH_MAX];

	if (state_dkim_key_del(st, domain, selector, path, sizeof(path), err, errlen) != 0)
		return -1;
	if (unlink(path) != 0 && errno != ENOENT)
		return adm_fail(err, errlen, "selector %s removed, but not its file %s: %s", selector,
		    path, strerror(errno));
	snprintf(copy, sizeof(copy), "%s", path);
	fsutil_dir_sync(dirname(copy));
	return 0;
}

void
state_dkim_files_remove(struct state *st, const char *domain)
{
	char err[256], path[PATH_MAX * 2];
	struct dkg_place p;
	struct dirent *e;
	DIR *dir;

	if (dkg_place(st, domain, false, &p, err, sizeof(err)) != 0 ||
	    (dir = opendir(p.dir)) == NULL)
		return;
	while ((e = readdir(dir)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n > 4 && strcmp(e->d_name + n - 4, ".pem") == 0) {
			snprintf(path, sizeof(path), "%s/%s", p.dir, e->d_name);
			unlink(path);
		}
	}
	closedir(dir);
	rmdir(p.dir);
}

size_t
state_dkim_pubkey(const char *path, unsigned char out[STATE_DKIM_PUB_MAX], bool *ed25519,
    char *err, size_t errlen)
{
	unsigned char *der = NULL;
	size_t len = 0;
	EVP_PKEY *pkey;
	FILE *f = fopen(path, "re");
	int n;

	if (f == NULL) {
		adm_fail(err, errlen, "%s: %s", path, strerror(errno));
		return 0;
	}
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	*ed25519 = pkey != NULL && EVP_PKEY_id(pkey) == EVP_PKEY_ED25519;
	if (*ed25519) {
		len = STATE_DKIM_PUB_MAX;
		if (EVP_PKEY_get_raw_public_key(pkey, out, &len) != 1 || len != 32)
			len = 0;
	} else if (pkey != NULL && EVP_PKEY_id(pkey) == EVP_PKEY_RSA &&
	    (n = i2d_PUBKEY(pkey, &der)) > 0 && (size_t)n <= STATE_DKIM_PUB_MAX) {
		memcpy(out, der, (size_t)n);
		len = (size_t)n;
	}
	if (len == 0)
		adm_fail(err, errlen, "%s: not a readable RSA or Ed25519 private key", path);
	OPENSSL_free(der);
	EVP_PKEY_free(pkey);
	return len;
}

char *
state_dkim_pubkey_b64(const char *path, char *err, size_t errlen)
{
	unsigned char pub[STATE_DKIM_PUB_MAX];
	size_t len;
	bool ed25519;
	char *out;

	if ((len = state_dkim_pubkey(path, pub, &ed25519, err, errlen)) == 0)
		return NULL;
	out = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, pub, (int)len);
	return out;
}
