/*
 * deliver_dkim.c - the DKIM-Signature headers of the message being
 * delivered: made once per delivery attempt (not once per destination
 * domain) and only when a recipient goes out over SMTP.
 * A message that cannot be signed goes out unsigned and is logged, never
 * held back or lost.
 */
#include "delivery/deliver_internal.h"

#include <time.h>

#include "dkim/dkim.h"
#include "util/log.h"

/* Forget the previous message's signatures. */
void
deliver_dkim_reset(struct deliver_ctx *d)
{
	free(d->dkim);
	d->dkim = NULL;
	d->dkim_done = false;
}

/* The header(s) to send before env's content, or NULL (no key applies). */
const char *
deliver_dkim_prefix(struct deliver_ctx *d, const struct conf *c, const struct spool_env *env, int fd)
{
	if (d->dkim_done || c->ndkim == 0)
		return d->dkim;
	d->dkim_done = true;
	if (dkim_sign_fd(c->dkim_keys, c->ndkim, fd, env->content_off, env->content_len, time(NULL),
	    &d->dkim) < 0)
		log_warn("event=dkim-failed id=%s reason=\"cannot sign (header section too long, unreadable, or signing failed)\"",
		    env->id);
	return d->dkim;
}
