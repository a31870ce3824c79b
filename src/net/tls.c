/*
 * tls.c - OpenSSL contexts: the server's for STARTTLS (RFC 3207) and
 * implicit TLS (RFC 8314) with Mozilla's intermediate profile, the outbound
 * client's with certificate and host name verification (RFC 6125) when a
 * route asks for it, and the self-signed pair for the embedded default.
 * SECURITY: keys must be private to their owner (mode & 077 == 0); a peer
 * certificate is trusted only through the configured CAs. The self-signed
 * pair is written by root into a directory the run user owns: never
 * through a link found there.
 */
#include "net/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
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

/*
 * Mozilla's "intermediate" server profile (v5.7): TLS 1.2 and 1.3 only; on
 * TLS 1.2 only ECDHE key exchange with AEAD ciphers (no CBC: LUCKY13 and
 * its kin), TLS 1.3 with OpenSSL's default suites (all AEAD). The client
 * picks among these (none is weak, and clients know their hardware best).
 * No renegotiation, no compression (CRIME). No session cache and no
 * tickets: mail clients rarely resume, and ticket keys that live as long
 * as the process would undo forward secrecy.
 */
#define TLS_CIPHERS_TLS12 \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS_GROUPS "X25519:P-256:P-384"

static int
tls_profile_apply(SSL_CTX *ctx)
{
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_TLS12) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1)
		return -1;
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
	SSL_CTX_clear_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
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
	if (tls_profile_apply(ctx) < 0) {
		tls_err(err, errlen, "cannot set the TLS profile", cert);
		goto fail;
	}
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

/* Write the PEM to a new file beside path, then rename it into place.
 * ferryd is still root and the run user owns the spool: O_EXCL|O_NOFOLLOW
 * on the temp name and the rename (which replaces a link, never writes
 * through it) keep root from truncating or chowning a file the run user
 * linked there; readers see the old file or the whole new one. */
static int
tls_pem_write(int dirfd, const char *name, mode_t mode, EVP_PKEY *pk, X509 *x, uid_t uid, gid_t gid)
{
	char tmp[512];
	FILE *f;
	int fd, ok, saved;

	if ((size_t)snprintf(tmp, sizeof(tmp), ".%s.tmp", name) >= sizeof(tmp))
		return errno = ENAMETOOLONG, -1;
	(void)unlinkat(dirfd, tmp, 0);         /* a stale one, or a link: removed, not followed */
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	if (uid != (uid_t)-1 && fchown(fd, uid, gid) < 0) {
		close(fd);
		goto fail;
	}
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		goto fail;
	}
	ok = pk ? PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL)
	        : PEM_write_X509(f, x);
	if (fflush(f) != 0 || fsync(fd) != 0)
		ok = 0;
	if (fclose(f) != 0 || !ok)
		goto fail;
	if (renameat(dirfd, tmp, dirfd, name) < 0)
		goto fail;
	return fsync(dirfd);
fail:
	saved = errno;
	(void)unlinkat(dirfd, tmp, 0);
	errno = saved;
	return -1;
}

/* The directory that will hold path, made (0750, the run user's) when
 * missing and opened without following a link in its place; *name is
 * path's last component. Returns the descriptor or -1 with errno. */
static int
tls_parent_open(const char *path, uid_t uid, gid_t gid, const char **name)
{
	char buf[4096];
	const char *slash = strrchr(path, '/');
	bool made;
	int fd;

	*name = slash != NULL ? slash + 1 : path;
	if (slash == NULL)
		snprintf(buf, sizeof(buf), ".");
	else if ((size_t)snprintf(buf, sizeof(buf), "%.*s", slash == path ? 1 : (int)(slash - path),
	    path) >= sizeof(buf))
		return errno = ENAMETOOLONG, -1;
	made = mkdir(buf, 0750) == 0;
	fd = open(buf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && made && uid != (uid_t)-1 && fchown(fd, uid, gid) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One file of the self-signed pair, written as tls_pem_write says. */
static int
tls_pem_save(const char *path, mode_t mode, EVP_PKEY *pk, X509 *x, uid_t uid, gid_t gid)
{
	const char *name;
	int dirfd = tls_parent_open(path, uid, gid, &name), rc, saved;

	if (dirfd < 0)
		return -1;
	rc = tls_pem_write(dirfd, name, mode, pk, x, uid, gid);
	saved = errno;
	close(dirfd);
	errno = saved;
	return rc;
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
	pk = EVP_EC_gen("P-256");
	if (pk == NULL) {
		tls_err(err, errlen, "cannot generate key", key);
		return -1;
	}
	x = tls_selfsigned_build(pk, hostname);
	if (x == NULL)
		tls_err(err, errlen, "cannot build certificate", cert);
	else if (tls_pem_save(key, 0600, pk, NULL, uid, gid) < 0)
		snprintf(err, errlen, "%s: cannot write: %s", key, strerror(errno));
	else if (tls_pem_save(cert, 0644, NULL, x, uid, gid) < 0)
		snprintf(err, errlen, "%s: cannot write: %s", cert, strerror(errno));
	else
		rc = 0;
	X509_free(x);
	EVP_PKEY_free(pk);
	return rc;
}

/*
 * The client side. One context serves every outbound policy: opportunistic
 * sessions (RFC 7435) do not verify; a session that must verify asks for it
 * per connection (tls_client_verify_set), so both share one trust store:
 * ca_file alone when given, else the system's store.
 */
SSL_CTX *
tls_client_ctx_new(const char *ca_file, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		tls_err(err, errlen, "SSL_CTX_new", ca_file ? ca_file : "client");
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1 :
	    SSL_CTX_set_default_verify_paths(ctx) != 1) {
		tls_err(err, errlen, "cannot load CA certificates (a PEM bundle is expected)",
		    ca_file ? ca_file : "system CA store");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* Verify the peer's chain and that it was issued to host: a DNS name
 * (SAN or CN, no partial wildcards) or, for an IP literal, the address. */
int
tls_client_verify_set(SSL *ssl, const char *host, bool is_ip)
{
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);

	SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (is_ip)
		return X509_VERIFY_PARAM_set1_ip_asc(vp, host) == 1 ? 0 : -1;
	return SSL_set1_host(ssl, host) == 1 ? 0 : -1;
}

/* Why verification failed, after a failed handshake ("" if it was not that). */
const char *
tls_client_verify_error(SSL *ssl)
{
	long v = SSL_get_verify_result(ssl);

	return v == X509_V_OK ? "" : X509_verify_cert_error_string(v);
}

void
tls_describe(SSL *ssl, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
}
