/*
 * milter_proto.h - the sendmail milter protocol, version 6, as packets: the
 * commands ferry (the MTA side) sends and the replies a filter returns.
 * A packet is a 4-octet big-endian length (command octet included), the
 * command octet, then its data; strings are NUL-terminated inside it.
 * Learned from sendmail's libmilter documentation (mfdef.h) and Postfix's
 * milter8.c; the code is ours.
 * SECURITY: a filter is a separate process and is not trusted: every reply
 * is decoded against its exact length, a length over MILTER_PACKET_MAX is
 * refused before anything is read, and a malformed reply is an error (the
 * caller applies the milter's default action), never a crash.
 */
#ifndef FERRY_MILTER_PROTO_H
#define FERRY_MILTER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MILTER_VERSION      6
#define MILTER_PACKET_MAX   (256 * 1024)   /* a reply longer than this is refused */
#define MILTER_CHUNK_MAX    65535          /* body octets in one BODY command */
#define MILTER_TEXT_MAX     1024           /* reply text, header name+value kept */
/* A reply code's text (and a quarantine reason) as kept: "550 5.7.1 " and
 * this fit one SMTP reply line (RFC 5321 4.5.3.1.5: 512 with the CRLF). */
#define MILTER_REPLY_MAX    480
/* A header sent to a filter is cut to these (the message's own header may
 * be longer): with the name, it must fit one packet (MILTER_CHUNK_MAX).
 * Postfix cuts at header_size_limit (102400) for the same reason: an
 * oversized header is the message's doing, not a filter failure. */
#define MILTER_HDR_NAME_SEND_MAX   1024
#define MILTER_HDR_VALUE_SEND_MAX  (60 * 1024)

/* Commands (MTA to filter). */
enum milter_cmd {
	MILTER_CMD_ABORT   = 'A', MILTER_CMD_BODY    = 'B', MILTER_CMD_CONNECT = 'C',
	MILTER_CMD_MACRO   = 'D', MILTER_CMD_EOM     = 'E', MILTER_CMD_HELO    = 'H',
	MILTER_CMD_HEADER  = 'L', MILTER_CMD_MAIL    = 'M', MILTER_CMD_EOH     = 'N',
	MILTER_CMD_OPTNEG  = 'O', MILTER_CMD_QUIT    = 'Q', MILTER_CMD_RCPT    = 'R',
	MILTER_CMD_DATA    = 'T',
};

/* Replies (filter to MTA). */
enum milter_reply_kind {
	MILTER_R_CONTINUE  = 'c', MILTER_R_ACCEPT    = 'a', MILTER_R_REJECT    = 'r',
	MILTER_R_TEMPFAIL  = 't', MILTER_R_DISCARD   = 'd', MILTER_R_REPLYCODE = 'y',
	MILTER_R_PROGRESS  = 'p', MILTER_R_SKIP      = 's', MILTER_R_ADDHEADER = 'h',
	MILTER_R_INSHEADER = 'i', MILTER_R_CHGHEADER = 'm', MILTER_R_QUARANTINE = 'q',
	MILTER_R_OPTNEG    = 'O', MILTER_R_ADDRCPT   = '+', MILTER_R_DELRCPT   = '-',
	MILTER_R_ADDRCPT_PAR = '2', MILTER_R_REPLBODY = 'b', MILTER_R_CHGFROM  = 'e',
	MILTER_R_CONNFAIL  = 'f', MILTER_R_SETSYMLIST = 'l', MILTER_R_SHUTDOWN = '4',
};

/* Actions the MTA allows (OPTNEG). */
#define MILTER_ACT_ADDHDRS    0x001u
#define MILTER_ACT_CHGBODY    0x002u
#define MILTER_ACT_ADDRCPT    0x004u
#define MILTER_ACT_DELRCPT    0x008u
#define MILTER_ACT_CHGHDRS    0x010u
#define MILTER_ACT_QUARANTINE 0x020u
#define MILTER_ACT_CHGFROM    0x040u
#define MILTER_ACT_SETSYMLIST 0x100u
/* What ferry offers: header edits and quarantine (envelope and body
 * changes are not implemented). */
#define MILTER_ACTS_OFFERED (MILTER_ACT_ADDHDRS | MILTER_ACT_CHGHDRS | MILTER_ACT_QUARANTINE | \
	MILTER_ACT_SETSYMLIST)

/* Protocol steps a filter may decline (NO*) or answer without a reply (NR*). */
#define MILTER_P_NOCONNECT  0x00000001u
#define MILTER_P_NOHELO     0x00000002u
#define MILTER_P_NOMAIL     0x00000004u
#define MILTER_P_NORCPT     0x00000008u
#define MILTER_P_NOBODY     0x00000010u
#define MILTER_P_NOHDRS     0x00000020u
#define MILTER_P_NOEOH      0x00000040u
#define MILTER_P_NR_HDR     0x00000080u
#define MILTER_P_NOUNKNOWN  0x00000100u
#define MILTER_P_NODATA     0x00000200u
#define MILTER_P_SKIP       0x00000400u
#define MILTER_P_RCPT_REJ   0x00000800u
#define MILTER_P_NR_CONN    0x00001000u
#define MILTER_P_NR_HELO    0x00002000u
#define MILTER_P_NR_MAIL    0x00004000u
#define MILTER_P_NR_RCPT    0x00008000u
#define MILTER_P_NR_DATA    0x00010000u
#define MILTER_P_NR_UNKN    0x00020000u
#define MILTER_P_NR_EOH     0x00040000u
#define MILTER_P_NR_BODY    0x00080000u
#define MILTER_P_HDR_LEADSPC 0x00100000u
/* Every step ferry can skip or run without a reply (not HDR_LEADSPC nor
 * RCPT_REJ: values go without their leading space, refused RCPTs unsent). */
#define MILTER_P_OFFERED    0x000ff7ffu

/* A packet being built: a fixed buffer, sticky overflow. */
struct milter_pkt {
	unsigned char buf[MILTER_CHUNK_MAX + 64];
	size_t        len;
	bool          overflow;
};

void milter_pkt_begin(struct milter_pkt *p, enum milter_cmd cmd);
void milter_pkt_u8(struct milter_pkt *p, unsigned v);
void milter_pkt_u16(struct milter_pkt *p, unsigned v);
void milter_pkt_u32(struct milter_pkt *p, uint32_t v);
/* len octets, then a NUL; a NUL inside the data is refused (overflow). */
void milter_pkt_str(struct milter_pkt *p, const char *s, size_t len);
void milter_pkt_raw(struct milter_pkt *p, const void *data, size_t len);
/* Write the length prefix: 0, or -1 when the packet overflowed. */
int  milter_pkt_end(struct milter_pkt *p);

/* A decoded reply. Names and values point into the packet passed to the
 * decoder and are valid as long as it is; text into the reply itself. */
struct milter_reply {
	enum milter_reply_kind kind;
	/* OPTNEG */
	uint32_t    version, actions, protocol;
	/* REPLYCODE: the whole text ("550 5.7.1 ...", lines joined, made
	 * printable), code its number; text points into buf */
	const char *text;
	int         code;
	char        buf[MILTER_REPLY_MAX + 1];
	/* ADDHEADER, INSHEADER, CHGHEADER; QUARANTINE's reason is in text */
	const char *name, *value;
	uint32_t    index;
};

/* The packet length from a 4-octet prefix, or -1 when it is 0 or over the cap. */
long milter_len_decode(const unsigned char hdr[4]);
/* Decode one reply packet body (command octet first, len octets).
 * 0, or -1 with a short reason in *why. */
int  milter_reply_decode(const unsigned char *pkt, size_t len, struct milter_reply *r,
    const char **why);

#endif
