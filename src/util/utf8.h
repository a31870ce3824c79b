/*
 * utf8.h - UTF-8 validation (RFC 3629), for addresses (RFC 6531), user
 * names and the text of delivery status notifications.
 */
#ifndef FERRY_UTIL_UTF8_H
#define FERRY_UTIL_UTF8_H

#include <stddef.h>

/* Length of the well-formed UTF-8 sequence at str (len octets available),
 * or 0. Overlongs, surrogates, values past U+10FFFF and the C1 controls
 * U+0080..U+009F (refused like every other control character) give 0. */
size_t utf8_len(const char *str, size_t len);

#endif
