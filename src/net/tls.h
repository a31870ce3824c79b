/*
 * tls.h - server TLS contexts (OpenSSL) and the self-signed certificate the
 * embedded default creates at first start.
 * STANDARDS: RFC 3207 STARTTLS, RFC 8314 implicit TLS; TLS 1.2 minimum.
 * SECURITY: a private key file readable by group or world is refused.
 */
#ifndef FERRY_NET_TLS_H
#define FERRY_NET_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <sys/types.h>

SSL_CTX *tls_server_ctx_new(const char *cert, const char *key, char *err, size_t errlen);

/* Create key (0600) and self-signed certificate for hostname when the key
 * file does not exist yet; chown both to uid:gid unless uid is -1. */
int tls_selfsigned_ensure(const char *cert, const char *key, const char *hostname,
    uid_t uid, gid_t gid, char *err, size_t errlen);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384" for logs and the Received: header. */
void tls_describe(SSL *ssl, char *out, size_t outsz);

#endif
