/*
 * deliver_unsub.c - one-click unsubscribe (RFC 8058) on a tenant's mail:
 * each recipient's copy gets
 *   List-Unsubscribe: <http_public_url/unsubscribe/TOKEN>
 *   List-Unsubscribe-Post: List-Unsubscribe=One-Click
 * with TOKEN naming the tenant and that recipient (state/unsub.h), and a
 * DKIM signature whose h= covers both (RFC 8058 4), made from the message
 * read once per attempt (d->unsub_prep). The header is per recipient, so
 * such mail goes one recipient per transaction (deliver_remote).
 * STANDARDS: RFC 2369 (List-Unsubscribe), RFC 8058, RFC 6376.
 * SECURITY: the URL is the administrator's (checked by conf); the token is
 * base64url; the address it holds has no control octets (unsub_token_make
 * refuses it, and the copy then goes without the headers).
 */
#include "delivery/deliver_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "state/unsub.h"
#include "util/log.h"
#include "util/xmalloc.h"

char *
deliver_unsub_prefix(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env,
    const struct rcpt_result *r)
{
	/* the envelope recipient the tenant sent to (its list holds that one) */
	const struct spool_rcpt *er = r->env_rcpt != NULL ? r->env_rcpt : r->r;
	char token[UNSUB_TOKEN_MAX + 1], extra[UNSUB_TOKEN_MAX + 512], *sig = NULL, *out;
	time_t now = time(NULL);
	size_t el, sl;

	extra[0] = '\0';
	if (unsub_token_make(d->tenant.secret, env->tenant_id, er->addr, now, token, sizeof(token)) == 0)
		snprintf(extra, sizeof(extra), "List-Unsubscribe: <%s/unsubscribe/%s>\r\n"
		    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n", c->http_public_url, token);
	else
		log_warn("event=unsubscribe-skipped id=%s reason=\"recipient address unusable in a link\"", env->id);
	if (dkim_prep_sign(d->unsub_prep, extra, now, &sig) < 0)
		log_warn("event=dkim-failed id=%s reason=\"signing failed\"", env->id);
	el = strlen(extra);
	sl = sig != NULL ? strlen(sig) : 0;
	if (el + sl == 0) {
		free(sig);
		return NULL;
	}
	out = xmalloc(sl + el + 1);
	memcpy(out, sig != NULL ? sig : "", sl);
	memcpy(out + sl, extra, el + 1);
	free(sig);
	return out;
}
