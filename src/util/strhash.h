/*
 * strhash.h - FNV-1a over a NUL-terminated string, for the in-memory hash
 * tables (queue entries, domains, sites, counters). Not for anything an
 * attacker could aim at a table's worst case beyond its bucket chains.
 */
#ifndef FERRY_UTIL_STRHASH_H
#define FERRY_UTIL_STRHASH_H

#include <stdbool.h>

static inline unsigned
strhash(const char *s, bool nocase)
{
	unsigned h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)(nocase && *s >= 'A' && *s <= 'Z' ? *s + 32 : *s)) * 16777619u;
	return h;
}

#endif
