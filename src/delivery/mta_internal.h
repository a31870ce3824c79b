/*
 * mta_internal.h - what the outbound client's files share: the connection
 * (socket, TLS, read buffer, the peer's extensions) and its I/O helpers.
 * mta_client.c opens sessions, mta_tx.c runs transactions; replies and
 * EHLO keywords are parsed by util/mta_reply.c.
 */
#ifndef FERRY_DELIVERY_MTA_INTERNAL_H
#define FERRY_DELIVERY_MTA_INTERNAL_H

#include "delivery/mta_client.h"

#define MTA_RBUF      16384   /* one whole reply must fit (RFC 5321 4.5.3.1.5 is 512 a line) */

struct mta_conn {
	int             fd;
	SSL            *ssl;
	bool            lmtp;
	int             timeout_s;
	bool            dead;            /* I/O failed: no more commands */
	bool            verified;        /* TLS with the peer's certificate verified */
	struct mta_caps caps;
	char            peer[320];       /* "host[addr]:port" */
	char            tls_info[128];
	char            rbuf[MTA_RBUF];
	size_t          rlen;
};

/* I/O with the connection's timeout; -1 marks the connection dead. */
int  mta_io_write(struct mta_conn *c, const char *buf, size_t len);
int  mta_io_printf(struct mta_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Read one complete reply into r; raw/rawlen (if not NULL) point at the
 * reply's octets in the read buffer until the next read. -1: the
 * connection is dead and r says why (4xx). */
int  mta_io_reply(struct mta_conn *c, struct mta_reply *r, const char **raw, size_t *rawlen);
/* Octets (or EOF) from the peer between transactions: the connection is unusable. */
bool mta_io_unsolicited(struct mta_conn *c);
/* Forget the reply just read (after using raw). */
void mta_io_consume(struct mta_conn *c, size_t n);
/* A command and its reply; -1 when the connection died (r says why). */
int  mta_cmd(struct mta_conn *c, struct mta_reply *r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));


#endif
