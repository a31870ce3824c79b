/*
 * sendmail_msg.h - the message as ferry-sendmail reads it from standard
 * input: line ends made CRLF, the header section parsed, over-long lines
 * folded, the content kept in memory and then in an unlinked temporary
 * file. ferryd's session is opened only once the whole message is in, so a
 * slow writer (a cron job printing for an hour) never holds a session open
 * against ferryd's timeouts.
 * STANDARDS: RFC 5322 2.1.1 (998-octet lines), 2.2.3 (folding), 2.3.
 * SECURITY: the input is untrusted and may be huge: the header section is
 * bounded by SENDMAIL_HDR_MAX, the content by max_message_size, and no line
 * is ever held whole.
 */
#ifndef FERRY_SENDMAIL_MSG_H
#define FERRY_SENDMAIL_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sendmail/sendmail_headers.h"

#define SENDMAIL_LINE_MAX  998            /* octets per line, CRLF excluded */
#define SENDMAIL_MEM_MAX   (1024 * 1024)  /* content held in memory before the temp file */
#define SENDMAIL_IBUF      65536

/* The content as it will be sent (before dot-stuffing). */
struct sendmail_store {
	char    *mem;
	size_t   memlen, memcap;
	FILE    *spill;          /* NULL until the content outgrows memory */
	uint64_t size, max;
	bool     eightbit;       /* an octet >= 0x80 somewhere: BODY=8BITMIME */
};

struct sendmail_msg {
	struct sendmail_headers hdr;
	struct sendmail_store   out;
	bool                    dot_ends;   /* no -i: a line "." ends the input */
	bool                    done;       /* end of input or "." already seen */

	int    fd;
	char   ibuf[SENDMAIL_IBUF];
	size_t ipos, ilen;
	bool   ieof, in_line;

	/* Line buffer; after sendmail_msg_headers_read it may hold the first
	 * body line (pending), read while looking for the header section's end. */
	char  *line;
	size_t pendlen;
	bool   pending, pending_eol;

	char   err[256];                    /* why the last call failed */
};

void sendmail_msg_init(struct sendmail_msg *m, int fd, bool dot_ends, uint64_t max_size);

/* Read the header section into m->hdr. Returns 0 or a sysexits code with
 * m->err set (EX_IOERR, EX_DATAERR). */
int sendmail_msg_headers_read(struct sendmail_msg *m);

/* Write the fields not removed, then the extra fields (complete "Name:
 * value" strings), then the empty line. Returns 0 or a sysexits code. */
int sendmail_msg_headers_write(struct sendmail_msg *m, char *const *extra, size_t nextra);

/* Read the rest of the input as the body. Returns 0 or a sysexits code. */
int sendmail_msg_body_read(struct sendmail_msg *m);

/* Hand the stored content to fn in pieces. Returns 0, -1 when fn failed,
 * -2 when the temporary file could not be read back. */
int sendmail_msg_content_each(struct sendmail_msg *m,
    int (*fn)(void *arg, const char *buf, size_t len), void *arg);

void sendmail_msg_free(struct sendmail_msg *m);

#endif
