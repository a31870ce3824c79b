/*
 * conf_bounce.c - the bounce classification rules a configuration carries
 * (ferry.conf(5), BOUNCE CLASSIFICATION; docs/configuration.md):
 * "bounce_rules FILE" loads FILE when the line is read, so `ferryd -t` and a
 * reload (SIGHUP) report its errors as "ferry.conf:LINE: bounce_rules:
 * FILE:LINE: cause"; "none" classifies every failure as "other" (soft);
 * without the line, the rules shipped as dist/bounce.rules, compiled in.
 * struct conf owns the loaded set (conf->bounce_rules): it lives as long as
 * the configuration that sessions and deliveries hold a reference to.
 * SECURITY: the file is the administrator's (see classify_parse.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf_internal.h"
#include "feedback/classify.h"
#include "util/log.h"

int
conf_bounce_load(struct conf *c, const char *path, char *err, size_t errlen)
{
	struct classify_rules *r;

	if (strcmp(path, "none") == 0)
		return 0;
	if ((r = classify_rules_load(path, err, errlen)) == NULL)
		return -1;
	c->bounce_rules = r;
	return 0;
}

void
conf_bounce_finish(struct conf *c)
{
	char err[512];

	if (c->bounce_rules_file != NULL)
		return;
	/* a test (test_classify) loads the same text: this cannot fail unless
	 * the build is broken, and then every failure is "other", said once */
	if ((c->bounce_rules = classify_rules_load(NULL, err, sizeof(err))) == NULL)
		log_warn("event=config-warning reason=\"embedded bounce rules: %s\" "
		    "effect=\"every failure classified other\"", err);
}

void
conf_bounce_free(struct conf *c)
{
	free(c->bounce_rules_file);
	/* the configuration owns the set it hands out as const */
	classify_rules_free((struct classify_rules *)c->bounce_rules);
}
