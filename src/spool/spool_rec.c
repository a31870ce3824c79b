/*
 * spool_rec.c - encoding spool records (format in spool_rec.h): headers,
 * and the typed writers every producer of spool files uses (inbound SMTP,
 * delivery status notifications), so the rules that bind records together
 * (NOTIFY and ORCPT follow their recipient) live here only.
 */
#include "spool/spool_rec.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
spool_rec_str(struct spool_msg *m, enum spool_rec type, const char *s)
{
	return s != NULL ? spool_rec_put(m, type, s, strlen(s)) : 0;
}

int
spool_rec_num(struct spool_msg *m, enum spool_rec type, long long n)
{
	char num[32];

	snprintf(num, sizeof(num), "%lld", n);
	return spool_rec_str(m, type, num);
}

int
spool_rec_rcpt(struct spool_msg *m, const char *addr, size_t len, unsigned notify, const char *orcpt)
{
	int rc = spool_rec_put(m, SPOOL_REC_RCPT, addr, len);

	if (notify != 0)
		rc |= spool_rec_num(m, SPOOL_REC_NOTIFY, notify);
	return rc | spool_rec_str(m, SPOOL_REC_ORCPT, orcpt);
}

void
spool_rec_hdr_put(unsigned char hdr[SPOOL_REC_HDR], enum spool_rec type, uint32_t len)
{
	hdr[0] = (unsigned char)type;
	hdr[1] = (unsigned char)(len >> 24);
	hdr[2] = (unsigned char)(len >> 16);
	hdr[3] = (unsigned char)(len >> 8);
	hdr[4] = (unsigned char)len;
}

uint32_t
spool_rec_hdr_len(const unsigned char hdr[SPOOL_REC_HDR])
{
	return (uint32_t)hdr[1] << 24 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 8 | hdr[4];
}

int
spool_rec_magic_check(int fd, struct stat *st)
{
	char magic[SPOOL_MAGIC_LEN];

	if (fstat(fd, st) < 0 || pread(fd, magic, sizeof(magic), 0) != (ssize_t)sizeof(magic) ||
	    memcmp(magic, SPOOL_MAGIC, sizeof(magic)) != 0)
		return -1;
	return 0;
}
