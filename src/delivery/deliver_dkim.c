/*
 * deliver_dkim.c - which DKIM keys sign an outgoing message: those
 * configured (dkim_sign) for the domain of its From: header or a parent of
 * it, so the signature aligns with From: for DMARC (RFC 7489 3.1.1).
 * SECURITY: the header section is read bounded and only scanned for the
 * first From: field; a message that cannot be signed goes out unsigned
 * (and is logged), never lost.
 */
#include "delivery/deliver_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "dkim/dkim.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define DKIM_FROM_SCAN 65536

/* The domain of the first From: field's (last) address, lowercased. */
static int
dkim_from_domain(int fd, const struct spool_env *env, char *out, size_t outsz)
{
	size_t want = env->content_len < DKIM_FROM_SCAN ? (size_t)env->content_len : DKIM_FROM_SCAN;
	char *h = xmalloc(want + 1);
	ssize_t n = pread(fd, h, want, env->content_off);
	int rc = -1;

	if (n <= 0) {
		free(h);
		return -1;
	}
	h[n] = '\0';
	for (char *line = h; line != NULL && *line != '\0' && *line != '\r' && *line != '\n';) {
		char *next = strchr(line, '\n');
		if (strncasecmp(line, "From:", 5) == 0) {
			char *end = next;                 /* the field with its continuation lines */
			while (end != NULL && (end[1] == ' ' || end[1] == '\t'))
				end = strchr(end + 1, '\n');
			size_t len = end ? (size_t)(end - line) : strlen(line);
			char *at = NULL;
			for (size_t i = 5; i < len; i++)
				if (line[i] == '@')
					at = line + i;
			if (at != NULL) {
				size_t d = 0;
				for (at++; at < line + len && d + 1 < outsz && strchr(">), ;\r\n\t\"", *at) == NULL; at++)
					out[d++] = (char)((*at >= 'A' && *at <= 'Z') ? *at + 32 : *at);
				out[d] = '\0';
				rc = d > 0 ? 0 : -1;
			}
			break;
		}
		line = next ? next + 1 : NULL;
	}
	free(h);
	return rc;
}

/* Is domain key_domain itself or one of its subdomains? */
static bool
dkim_domain_covers(const char *key_domain, const char *domain)
{
	size_t kl = strlen(key_domain), dl = strlen(domain);

	return strcmp(key_domain, domain) == 0 ||
	    (dl > kl && domain[dl - kl - 1] == '.' && strcmp(domain + dl - kl, key_domain) == 0);
}

/* DKIM-Signature header(s) for this message, or NULL when none applies. */
char *
deliver_dkim_headers(const struct conf *c, const struct spool_env *env, int fd)
{
	char domain[256], *all = NULL;
	size_t alen = 0;
	time_t now = time(NULL);

	if (c->ndkim == 0 || dkim_from_domain(fd, env, domain, sizeof(domain)) < 0)
		return NULL;
	for (size_t i = 0; i < c->ndkim; i++) {
		char *sig;
		if (!dkim_domain_covers(c->dkim[i].domain, domain))
			continue;
		if (dkim_sign_fd(c->dkim[i].key, fd, env->content_off, env->content_len, now, &sig) < 0) {
			log_warn("event=dkim-failed id=%s domain=%s reason=\"cannot sign (header section too long or unreadable)\"",
			    env->id, c->dkim[i].domain);
			continue;
		}
		size_t sl = strlen(sig);
		all = xrealloc(all, alen + sl + 1);
		memcpy(all + alen, sig, sl + 1);
		alen += sl;
		free(sig);
	}
	return all;
}
