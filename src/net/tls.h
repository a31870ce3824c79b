/*
 * tls.h - TLS contexts (OpenSSL): the server's, with its profile; the
 * outbound client's, with certificate verification on request; and the
 * self-signed certificate the embedded default creates at first start.
 * STANDARDS: RFC 3207 STARTTLS, RFC 8314 implicit TLS, RFC 6125 host name
 * checks (through OpenSSL); TLS 1.2 minimum.
 * SECURITY: a private key file readable by group or world is refused.
 */
#ifndef FERRY_NET_TLS_H
#define FERRY_NET_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

SSL_CTX *tls_server_ctx_new(const char *cert, const char *key, char *err, size_t errlen);

/* Create key (0600) and self-signed certificate for hostname when the key
 * file does not exist yet; chown both to uid:gid unless uid is -1. */
int tls_selfsigned_ensure(const char *cert, const char *key, const char *hostname,
    uid_t uid, gid_t gid, char *err, size_t errlen);

/* The outbound context: TLS 1.2 minimum, no verification unless a session
 * asks for it; trusts ca_file alone (a PEM bundle) or, when NULL, the
 * system's CA store. NULL with err when the CAs cannot be loaded (also the
 * check of tls_ca_file at configuration load). */
SSL_CTX *tls_client_ctx_new(const char *ca_file, char *err, size_t errlen);
/* Before SSL_connect: the handshake fails unless the certificate chains to
 * a trusted CA and names host (SSL_set1_host; the address for an IP). */
int tls_client_verify_set(SSL *ssl, const char *host, bool is_ip);
/* After a failed handshake: the X509 reason, or "" if not a verify failure. */
const char *tls_client_verify_error(SSL *ssl);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384" for logs and the Received: header. */
void tls_describe(SSL *ssl, char *out, size_t outsz);

#endif
