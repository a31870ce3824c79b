/*
 * tls.c - OpenSSL server contexts for STARTTLS (RFC 3207) and implicit TLS
 * (RFC 8314), and the self-signed pair for the embedded default.
 * SECURITY: keys must be private to their owner (mode & 077 == 0).
 */
#include "net/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
tls_err(char *err, size_t errlen, const char *what, const char *file)
{
	char ossl[256];

	ERR_error_string_n(ERR_get_error(), ossl, sizeof(ossl));
	snprintf(err, errlen, "%s: %s: %s", file, what, ossl);
}

static int
tls_key_mode_check(const char *key, char *err, size_t errlen)
{
	struct stat st;

	if (stat(key, &st) < 0) {
		snprintf(err, errlen, "%s: %s", key, strerror(errno));
		return -1;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "%s: private key is readable by group or world "
		    "(mode %04o); chmod 600 it", key, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

SSL_CTX *
tls_server_ctx_new(const char *cert, const char *key, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if (tls_key_mode_check(key, err, errlen) < 0)
		return NULL;
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		tls_err(err, errlen, "SSL_CTX_new", cert);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* A mail server serves many unrelated clients; no session cache needed. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		tls_err(err, errlen, "cannot load certificate chain", cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		tls_err(err, errlen, "cannot load private key", key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_err(err, errlen, "private key does not match the certificate", key);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static X509 *
tls_selfsigned_build(EVP_PKEY *pk, const char *hostname)
{
	X509 *x = X509_new();
	X509_NAME *name;
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	char san[300];

	if (x == NULL)
		return NULL;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)time(NULL));
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 86400);
	X509_set_pubkey(x, pk);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)hostname, -1, -1, 0);
	X509_set_issuer_name(x, name);
	snprintf(san, sizeof(san), "DNS:%s", hostname);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
	if (ext != NULL) {
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (X509_sign(x, pk, EVP_sha256()) == 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int
tls_pem_write(const char *path, mode_t mode, EVP_PKEY *pk, X509 *x, uid_t uid, gid_t gid)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	FILE *f;
	int ok;

	if (fd < 0)
		return -1;
	if (uid != (uid_t)-1 && fchown(fd, uid, gid) < 0) {
		close(fd);
		return -1;
	}
	f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		return -1;
	}
	ok = pk ? PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL)
	        : PEM_write_X509(f, x);
	if (fflush(f) != 0 || fsync(fd) != 0)
		ok = 0;
	fclose(f);
	return ok ? 0 : -1;
}

static void
tls_parent_mkdir(const char *path, uid_t uid, gid_t gid)
{
	char buf[4096];
	char *dir;

	snprintf(buf, sizeof(buf), "%s", path);
	dir = dirname(buf);
	if (mkdir(dir, 0750) == 0 && uid != (uid_t)-1 && chown(dir, uid, gid) < 0) {
		/* the key write below reports the real problem */
	}
}

int
tls_selfsigned_ensure(const char *cert, const char *key, const char *hostname,
    uid_t uid, gid_t gid, char *err, size_t errlen)
{
	EVP_PKEY *pk;
	X509 *x;
	int rc = -1;

	if (access(key, F_OK) == 0 && access(cert, F_OK) == 0)
		return 0;
	tls_parent_mkdir(key, uid, gid);
	tls_parent_mkdir(cert, uid, gid);
	pk = EVP_EC_gen("P-256");
	if (pk == NULL) {
		tls_err(err, errlen, "cannot generate key", key);
		return -1;
	}
	x = tls_selfsigned_build(pk, hostname);
	if (x == NULL)
		tls_err(err, errlen, "cannot build certificate", cert);
	else if (tls_pem_write(key, 0600, pk, NULL, uid, gid) < 0 ||
	    tls_pem_write(cert, 0644, NULL, x, uid, gid) < 0)
		snprintf(err, errlen, "%s: cannot write: %s", key, strerror(errno));
	else
		rc = 0;
	X509_free(x);
	EVP_PKEY_free(pk);
	return rc;
}

void
tls_describe(SSL *ssl, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
}
