/*
 * verp.h - authenticated return paths: the envelope sender of a tenant's
 * mail becomes "b+TOKEN@BOUNCE-DOMAIN" so that a bounce or complaint that
 * comes back names the tenant, the message and the recipient. TOKEN is
 * "<tenant id>-<queue id>-<recipient index>-<mac>[-<rcpt mac>]", mac being
 * the first 80 bits of HMAC-SHA256(secret, "<tenant>-<queue>-<index>") in
 * lowercase base32, rcpt mac the first 30 bits of HMAC-SHA256(secret,
 * "rcpt:<tenant>-<queue>-<index>:<lowercase address>") (left out when the
 * token would pass 64 octets), so a forged or altered token is refused and survives MTAs that
 * fold the case of local parts (all of it is lowercase hex/base32).
 */
#ifndef FERRY_STATE_VERP_H
#define FERRY_STATE_VERP_H

#include <stdbool.h>
#include <stddef.h>

#define VERP_LOCAL_MAX 64   /* RFC 5321 4.5.3.1.1 */

#define VERP_RCPT_MAC_CHARS 6   /* 30 bits: binds the recipient's address */

struct verp_info {
	long long tenant_id;
	char      queue_id[17];
	unsigned  rcpt_index;
	/* "" or the recipient MAC (verp_rcpt_bind): the token then also says
	 * which address it was sent to, so a report naming another address
	 * cannot suppress it. */
	char      rcpt_mac[VERP_RCPT_MAC_CHARS + 1];
};

/* Bind vi to the recipient address addr (case-insensitive). */
void verp_rcpt_bind(const unsigned char secret[32], struct verp_info *vi, const char *addr);
/* Is addr the address vi was bound to? false when vi carries no binding. */
bool verp_rcpt_matches(const unsigned char secret[32], const struct verp_info *vi, const char *addr);

/* The local part "b+TOKEN" into out (size >= VERP_LOCAL_MAX + 1). */
void verp_local_make(const unsigned char secret[32], const struct verp_info *vi, char *out, size_t outsz);
/* Parse and authenticate a local part (case-insensitive, len octets):
 * true and vi filled when it is a genuine token. */
bool verp_local_check(const unsigned char secret[32], const char *local, size_t len, struct verp_info *vi);

/* The same token without "b+", for the X-Ferry-Ref: header ferry adds to
 * every tenant message (a complaint names its message by it when the
 * return path did not survive): make into out (>= VERP_LOCAL_MAX + 1),
 * and check text (len octets, surrounding blanks allowed). */
#define VERP_REF_HEADER "X-Ferry-Ref"
void verp_ref_make(const unsigned char secret[32], const struct verp_info *vi, char *out, size_t outsz);
bool verp_ref_check(const unsigned char secret[32], const char *text, size_t len, struct verp_info *vi);

#endif
