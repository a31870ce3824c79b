/*
 * relay.h - who may send to whom: the recipient decision of RCPT TO.
 * A hosted domain accepts only its known mailboxes and aliases (and
 * postmaster, RFC 5321 4.5.1); any other destination only from an
 * authenticated session or a client in relay_networks. Local parts are
 * looked up literally, so "a%b@hosted" or "b!a@hosted" are never routed
 * anywhere else (no percent or bang relaying).
 */
#ifndef FERRY_POLICY_RELAY_H
#define FERRY_POLICY_RELAY_H

#include <stdbool.h>

#include "conf/conf.h"
#include "smtp/smtp_parse.h"

enum relay_verdict {
	RELAY_OK_LOCAL,       /* hosted domain, known recipient */
	RELAY_OK_RELAY,       /* foreign domain, client may relay */
	RELAY_UNKNOWN_USER,   /* hosted domain, no such recipient: 550 5.1.1 */
	RELAY_DENIED,         /* foreign domain, client may not relay: 554 5.7.1 */
};

/* may_relay: the session is authenticated or its client is trusted. */
enum relay_verdict relay_rcpt_check(const struct conf *c, const struct smtp_path *rcpt,
    bool may_relay);

#endif
