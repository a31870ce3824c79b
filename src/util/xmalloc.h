/*
 * xmalloc.h - allocation that cannot fail: out of memory is an environment
 * failure (log_fatal), never a half-handled NULL deep in protocol code.
 */
#ifndef FERRY_UTIL_XMALLOC_H
#define FERRY_UTIL_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
