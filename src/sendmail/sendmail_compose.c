/*
 * sendmail_compose.c - the From:, Date: and Message-ID: fields that
 * ferry-sendmail adds when a message has none.
 * STANDARDS: RFC 5322 3.2.3 (atoms), 3.2.4 (quoted strings), 3.3, 3.6.4;
 * RFC 2047 4.1 ("B" encoding, 75-octet encoded words).
 * SECURITY: the full name is sanitised here, the address was validated by
 * the caller; nothing else from the user reaches these fields.
 */
#include "sendmail/sendmail_compose.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util/xmalloc.h"

/* 45 octets encode to 60 base64 characters: "=?UTF-8?B?" + 60 + "?=" = 72,
 * within RFC 2047's 75. */
#define SENDMAIL_EW_CHUNK 45

struct sendmail_str {
	char  *s;
	size_t len, cap;
};

static void
sendmail_str_add(struct sendmail_str *b, const char *s, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		b->cap = (b->len + len + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, s, len);
	b->len += len;
	b->s[b->len] = '\0';
}

static bool
sendmail_phrase_safe(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == ' ' || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL))
			return false;
	}
	return true;
}

/* RFC 2047 encoded words, split between UTF-8 characters, never inside. */
static void
sendmail_name_encoded(struct sendmail_str *b, const char *s, size_t len)
{
	unsigned char out[4 * SENDMAIL_EW_CHUNK / 3 + 4];
	size_t pos = 0, n;

	while (pos < len) {
		n = len - pos < SENDMAIL_EW_CHUNK ? len - pos : SENDMAIL_EW_CHUNK;
		while (n > 1 && pos + n < len && ((unsigned char)s[pos + n] & 0xC0) == 0x80)
			n--;
		if (pos > 0)
			sendmail_str_add(b, " ", 1);
		sendmail_str_add(b, "=?UTF-8?B?", 10);
		sendmail_str_add(b, (const char *)out,
		    (size_t)EVP_EncodeBlock(out, (const unsigned char *)s + pos, (int)n));
		sendmail_str_add(b, "?=", 2);
		pos += n;
	}
}

/* The display name: as is when it is plain atoms, else a quoted string,
 * else (non-ASCII) encoded words. */
static void
sendmail_name_add(struct sendmail_str *b, const char *name)
{
	bool high = false;

	for (const char *p = name; *p != '\0'; p++)
		high |= (unsigned char)*p >= 0x80;
	if (high) {
		sendmail_name_encoded(b, name, strlen(name));
	} else if (sendmail_phrase_safe(name)) {
		sendmail_str_add(b, name, strlen(name));
	} else {
		sendmail_str_add(b, "\"", 1);
		for (const char *p = name; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				sendmail_str_add(b, "\\", 1);
			sendmail_str_add(b, p, 1);
		}
		sendmail_str_add(b, "\"", 1);
	}
}

/* Control characters become spaces; spaces at either end go. */
static char *
sendmail_name_clean(const char *fullname)
{
	char *s = xstrdup(fullname);
	size_t start = 0, end;

	for (char *p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 32 || *p == 127)
			*p = ' ';
	end = strlen(s);
	while (start < end && s[start] == ' ')
		start++;
	while (end > start && s[end - 1] == ' ')
		end--;
	memmove(s, s + start, end - start);
	s[end - start] = '\0';
	return s;
}

char *
sendmail_compose_from(const char *fullname, const char *addr)
{
	struct sendmail_str b = { 0 };
	char *name = fullname != NULL ? sendmail_name_clean(fullname) : NULL;

	sendmail_str_add(&b, "From: ", 6);
	if (name != NULL && name[0] != '\0') {
		sendmail_name_add(&b, name);
		sendmail_str_add(&b, " <", 2);
		sendmail_str_add(&b, addr, strlen(addr));
		sendmail_str_add(&b, ">", 1);
	} else {
		sendmail_str_add(&b, addr, strlen(addr));
	}
	free(name);
	return b.s;
}

char *
sendmail_compose_date(time_t now)
{
	char buf[80];
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(buf, sizeof(buf), "Date: %a, %d %b %Y %H:%M:%S %z", &tm);
	return xstrdup(buf);
}

static bool
sendmail_host_ok(const char *h)
{
	if (h == NULL || h[0] == '\0' || strlen(h) > 253)
		return false;
	for (; *h != '\0'; h++)
		if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') || (*h >= '0' && *h <= '9') ||
		    *h == '-' || *h == '.'))
			return false;
	return true;
}

char *
sendmail_compose_message_id(const char *hostname, time_t now)
{
	char stamp[32], buf[400];
	uint64_t r = 0;
	struct tm tm;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = ((uint64_t)now << 20) ^ ((uint64_t)getpid() << 40) ^ (uint64_t)(uintptr_t)&r;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
	snprintf(buf, sizeof(buf), "Message-ID: <%s.%016llx@%s>", stamp, (unsigned long long)r,
	    sendmail_host_ok(hostname) ? hostname : "localhost");
	return xstrdup(buf);
}
