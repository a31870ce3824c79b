/* conf_internal.h - shared by the files of src/conf/ while parsing. */
#ifndef FERRY_CONF_INTERNAL_H
#define FERRY_CONF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf.h"

struct conf_parse {
	struct conf *c;
	const char  *file;
	int          line;
	char        *err;
	size_t       errlen;
	unsigned     seen;       /* bitmap of conf_ints seen, for duplicates */
	bool         seen_str[32];
};

/* Write "FILE:LINE: message" to p->err; returns -1. */
int conf_fail(struct conf_parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* conf_pool.c: "pool", "pool_address", "provider" lines. */
int  conf_pool_add(struct conf_parse *p, char **argv, int argc);
int  conf_pool_address_add(struct conf_parse *p, char **argv, int argc);
int  conf_provider_add(struct conf_parse *p, char **argv, int argc);
void conf_pools_free(struct conf *c);

#endif
