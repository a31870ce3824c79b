/*
 * conf_shaping.c - the traffic shaping rules a configuration carries
 * (ferry.conf(5), SHAPING RULES; docs/configuration.md): "shaping_rules FILE" loads FILE when the line is read,
 * so `ferryd -t` and a reload (SIGHUP) report its errors as
 * "ferry.conf:LINE: shaping_rules: FILE:LINE: cause"; "none" turns shaping
 * off; without the line, the rules shipped as dist/shaping.rules, compiled
 * in. struct conf owns the loaded set: it lives as long as the
 * configuration that sessions and deliveries hold a reference to.
 * SECURITY: the file is the administrator's (see shape_rules.c).
 */
#include <stdio.h>
#include <string.h>

#include "conf/conf_internal.h"
#include "shaping/shape_rules.h"
#include "util/log.h"

int
conf_shaping_load(struct conf *c, const char *path, char *err, size_t errlen)
{
	if (strcmp(path, "none") == 0)
		return 0;
	c->shaping = shape_rules_load(path, err, errlen);
	return c->shaping != NULL ? 0 : -1;
}

void
conf_shaping_finish(struct conf *c)
{
	char err[512];

	if (c->shaping_rules != NULL)
		return;
	/* a test (test_shape_rules) loads the same text: this cannot fail
	 * unless the build is broken, and then shaping is off, said once */
	if ((c->shaping = shape_rules_default(err, sizeof(err))) == NULL)
		log_warn("event=config-warning reason=\"embedded shaping rules: %s\" effect=\"no shaping\"", err);
}
