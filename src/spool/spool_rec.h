/*
 * spool_rec.h - the spool file format, in one place: every record type, what
 * its data holds, and the one API that writes records. The readers
 * (spool_env.c, spool.c's recovery check) and the test harness
 * (tests/integration/ferrytest.py) follow this table.
 *
 * File format (version 1), all integers big-endian:
 *   "FERRY1\n"                    magic
 *   record*                       type (1 octet), length (4), data
 *   'X' record of length 0        end: a file without it is incomplete
 * A record type this version does not know is skipped by readers.
 */
#ifndef FERRY_SPOOL_REC_H
#define FERRY_SPOOL_REC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define SPOOL_MAGIC     "FERRY1\n"
#define SPOOL_MAGIC_LEN (sizeof(SPOOL_MAGIC) - 1)
#define SPOOL_REC_HDR   5             /* type octet + length */

enum spool_rec {
	SPOOL_REC_ID          = 'I',  /* queue id: the name the file was written under */
	SPOOL_REC_TIME        = 't',  /* arrival, unix seconds (decimal) */
	SPOOL_REC_SENDER      = 'S',  /* reverse-path, "" for <> */
	SPOOL_REC_RCPT        = 'R',  /* a recipient still to be delivered... */
	SPOOL_REC_DELIVERED   = 'D',  /* ...or done: the type octet is changed in place */
	SPOOL_REC_FAILED      = 'F',  /* ...or failed (bounced) */
	SPOOL_REC_NOTIFY      = 'N',  /* NOTIFY of the preceding recipient: SMTP_NOTIFY_* bits (decimal) */
	SPOOL_REC_ORCPT       = 'O',  /* ORCPT of the preceding recipient, as received */
	SPOOL_REC_ENVID       = 'E',  /* ENVID, xtext-decoded */
	SPOOL_REC_RET         = 'T',  /* RET: smtp_ret_name(), FULL or HDRS */
	SPOOL_REC_BODY        = 'B',  /* BODY: smtp_body_name(), 7BIT, 8BITMIME or BINARYMIME */
	SPOOL_REC_SMTPUTF8      = 'U',  /* SMTPUTF8 was given ("1") */
	SPOOL_REC_AUTH        = 'A',  /* the authenticated identity */
	SPOOL_REC_CLIENT      = 'c',  /* client address */
	SPOOL_REC_HELO        = 'h',  /* client HELO/EHLO name */
	SPOOL_REC_CLIENT_NAME = 'n',  /* client host name */
	SPOOL_REC_TLS         = 'L',  /* TLS "protocol cipher" */
	SPOOL_REC_PROTO       = 'P',  /* protocol: RFC 3848 "with" keyword, "local" for our own DSNs */
	SPOOL_REC_ROLE        = 'l',  /* the listener's role */
	SPOOL_REC_SOURCE      = 'o',  /* outbound source address of the listener */
	SPOOL_REC_TENANT      = 'G',  /* relay-service tenant id it was sent as (decimal) */
	SPOOL_REC_POOL        = 'Y',  /* IP pool it leaves from (a connector's own, else its tenant's) */
	SPOOL_REC_WARN_DUE    = 'W',  /* (empty) a delay warning is due... */
	SPOOL_REC_WARN_SENT   = 'w',  /* ...or was sent: the type octet is changed in place */
	SPOOL_REC_HOLD        = 'Q',  /* held at arrival (milter quarantine, review): why; after the content */
	SPOOL_REC_DSN         = 'Z',  /* a notification ferry made: enum spool_dsn (decimal) */
	SPOOL_REC_CONTENT     = 'M',  /* the message: CRLF lines, our Received: header first */
	SPOOL_REC_END         = 'X',  /* end, length 0 */
};

/* What a SPOOL_REC_DSN record says: a failed bounce goes to the postmaster
 * once (a "double bounce"), and the failure of that is only logged. */
enum spool_dsn { SPOOL_DSN_NONE = 0, SPOOL_DSN_BOUNCE = 1, SPOOL_DSN_DOUBLE = 2 };

struct spool_msg;

/* Write one envelope record (only before spool_msg_content_begin). 0, or
 * -1 when the message has failed. */
int spool_rec_put(struct spool_msg *m, enum spool_rec type, const void *data, size_t len);
/* A string record; NULL writes nothing (an optional field left out). */
int spool_rec_str(struct spool_msg *m, enum spool_rec type, const char *s);
/* A decimal number record. */
int spool_rec_num(struct spool_msg *m, enum spool_rec type, long long n);
/* A recipient, then its NOTIFY (0: none) and ORCPT (NULL: none). */
int spool_rec_rcpt(struct spool_msg *m, const char *addr, size_t len, unsigned notify,
    const char *orcpt);

/* A record header, and its length back. */
void     spool_rec_hdr_put(unsigned char hdr[SPOOL_REC_HDR], enum spool_rec type, uint32_t len);
uint32_t spool_rec_hdr_len(const unsigned char hdr[SPOOL_REC_HDR]);
/* fstat fd into st and check the magic: 0 or -1. Records start at
 * SPOOL_MAGIC_LEN. */
int      spool_rec_magic_check(int fd, struct stat *st);

#endif
