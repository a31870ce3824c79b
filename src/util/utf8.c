/*
 * utf8.c - one multi-octet UTF-8 sequence checked against RFC 3629 section
 * 4's table of well-formed sequences, so overlong forms and surrogates are
 * refused by their second octet's range, not decoded first.
 */
#include "util/utf8.h"

size_t
utf8_len(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (len == 0)
		return 0;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (s[0] == 0xc2)
		lo = 0xa0;      /* U+0080..U+009F: C1 controls */
	else if (s[0] == 0xe0)
		lo = 0xa0;      /* overlong */
	else if (s[0] == 0xed)
		hi = 0x9f;      /* surrogates */
	else if (s[0] == 0xf0)
		lo = 0x90;      /* overlong */
	else if (s[0] == 0xf4)
		hi = 0x8f;      /* past U+10FFFF */
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}
