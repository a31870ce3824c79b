/*
 * ctl_tenant.c - `ferryctl tenant add|list|show|set|limit|suspend|resume|del`:
 * the tenants of the relay service in the state database (state_admin.h),
 * their usage read from the persisted counters (counters.h).
 * SECURITY: run by the administrator; `resume` also asks ferryd over its
 * control socket to release the tenant's held mail (ferryd checks who asks).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf/conf.h"
#include "ferryctl/ctl_state.h"
#include "state/state_admin.h"
#include "state/suppress.h"
#include "util/xmalloc.h"

const char ctl_tenant_usage[] =
    "  tenant add NAME [--pool POOL] [--bounce-domain DOMAIN]\n"
    "                                        add a tenant of the relay service\n"
    "  tenant list                           the tenants, one a line\n"
    "  tenant show NAME                      settings, limits, usage, accounts, keys, domains\n"
    "  tenant set NAME [--pool POOL] [--bounce-domain DOMAIN] [--weight N] [--suppressed reject|drop]\n"
    "                                        (\"\" clears) weight: messages at each turn of a busy\n"
    "                                        destination (1-100); suppressed: a recipient on the\n"
    "                                        tenant's suppression list refused at RCPT, or dropped\n"
    "  tenant limit NAME [--per-minute N] [--per-hour N] [--per-day N] [--rcpts N]\n"
    "                                        messages per window, recipients per message (0: none)\n"
    "  tenant suspend NAME [--reason TEXT]   refuse the tenant's mail (4xx) until resumed\n"
    "  tenant resume NAME                    accept it again, release its held mail\n"
    "  tenant del NAME                       remove a tenant and everything it has\n";

/* A pool named in the configuration (-c): an unknown pool is refused when
 * the configuration loads, so a typo does not silently send from nowhere. */
static int
ctl_tenant_pool_check(struct ctl *c, const char *pool)
{
	const struct conf *k;

	if (pool == NULL || pool[0] == '\0')
		return 0;
	if ((k = ctl_conf_get(c)) == NULL)
		return -1;
	if (conf_pool_find(k, pool) == NULL) {
		ctl_warn("no pool %s in %s (add \"pool %s\" and its pool_address lines first)", pool,
		    c->config != NULL ? c->config : "the configuration", pool);
		return -1;
	}
	return 0;
}

static int
ctl_tenant_add(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char err[1024];

	if (ctl_tenant_pool_check(c, a->pool) != 0)
		return CTL_EXIT_ERR;
	if (state_tenant_add(st, a->arg[0], a->pool, a->bounce, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	printf("tenant %s added\n", a->arg[0]);
	return CTL_EXIT_OK;
}

static void
ctl_tenant_line(void *arg, const struct state_tenant_info *t)
{
	(void)arg;
	printf("%s\t%s\tpool=%s\tbounce-domain=%s\n", t->t.name,
	    t->t.suspended ? "suspended" : "active", t->t.pool[0] ? t->t.pool : "-",
	    t->t.bounce_domain[0] ? t->t.bounce_domain : "-");
}

static int
ctl_tenant_list(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char err[1024];

	(void)c;
	(void)a;
	if (state_tenant_list(st, ctl_tenant_line, NULL, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	return CTL_EXIT_OK;
}

static int
ctl_tenant_set(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char err[1024];

	enum suppress_mode mode = SUPPRESS_MODE_REJECT;

	if (a->pool == NULL && a->bounce == NULL && a->weight < 0 && a->suppressed == NULL) {
		ctl_warn("tenant set: nothing to set (--pool, --bounce-domain, --weight, --suppressed)");
		return CTL_EXIT_USAGE;
	}
	if (a->suppressed != NULL && suppress_mode_parse(a->suppressed, &mode) != 0) {
		ctl_warn("invalid --suppressed %s: reject or drop", a->suppressed);
		return CTL_EXIT_USAGE;
	}
	if (ctl_tenant_pool_check(c, a->pool) != 0)
		return CTL_EXIT_ERR;
	if ((a->pool != NULL || a->bounce != NULL) &&
	    state_tenant_set(st, a->arg[0], a->pool, a->bounce, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	if (a->weight >= 0 && state_tenant_weight(st, a->arg[0], a->weight, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	if (a->suppressed != NULL &&
	    state_tenant_suppress_mode_set(st, a->arg[0], mode, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	printf("tenant %s changed\n", a->arg[0]);
	return CTL_EXIT_OK;
}

static int
ctl_tenant_limit(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char err[1024];

	(void)c;
	if (!a->limits_set) {
		ctl_warn("tenant limit: no limit given (--per-minute, --per-hour, --per-day, --rcpts)");
		return CTL_EXIT_USAGE;
	}
	if (state_tenant_limit(st, a->arg[0], &a->limits, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	printf("tenant %s limits changed\n", a->arg[0]);
	return CTL_EXIT_OK;
}

static int
ctl_tenant_suspend(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char err[1024];

	(void)c;
	if (state_tenant_suspend(st, a->arg[0], a->reason, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	printf("tenant %s suspended: its sessions are refused (535/550 5.7.1) and its queued mail held\n",
	    a->arg[0]);
	return CTL_EXIT_OK;
}

/* Ask ferryd to release the tenant's held mail; 0 when it did. */
static int
ctl_tenant_release(struct ctl *c, long long id)
{
	char req[64], line[512] = "";
	FILE *f;
	int fd;

	if (ctl_control_path(c) < 0 || (fd = ctl_queue_connect(c->control)) < 0)
		return -1;
	snprintf(req, sizeof(req), "release-tenant %lld\n", id);
	if (ctl_queue_send(fd, req) < 0 || (f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL && strncmp(line, "OK", 2) != 0 &&
	    strncmp(line, "ERR", 3) != 0)
		;   /* informational lines before the status */
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	if (strcmp(line, "OK") == 0)
		return 0;
	if (strncmp(line, "ERR", 3) == 0)
		ctl_warn("ferryd: %s", line);
	return -1;
}

static int
ctl_tenant_resume(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char err[1024];
	long long id;

	if (state_tenant_resume(st, a->arg[0], &id, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	printf("tenant %s resumed\n", a->arg[0]);
	if (ctl_tenant_release(c, id) == 0)
		printf("ferryd released the tenant's held mail\n");
	else
		printf("note: held mail of %s is released by `ferryctl queue release ID` or at"
		    " ferryd's next start\n", a->arg[0]);
	return CTL_EXIT_OK;
}

/* The tenant's domain names, kept to remove their key files after the rows. */
struct ctl_tenant_doms {
	char  (*name)[STATE_DOMAIN_MAX + 1];
	size_t n;
};

static void
ctl_tenant_dom_add(void *arg, const struct state_domain_info *d)
{
	struct ctl_tenant_doms *v = arg;

	v->name = xrealloc(v->name, (v->n + 1) * sizeof(*v->name));
	snprintf(v->name[v->n++], sizeof(*v->name), "%s", d->name);
}

static int
ctl_tenant_del(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	struct ctl_tenant_doms v = { NULL, 0 };
	char err[1024];
	int rc = CTL_EXIT_ERR;

	(void)c;
	if (state_domain_list(st, a->arg[0], ctl_tenant_dom_add, &v, err, sizeof(err)) != 0 ||
	    state_tenant_del(st, a->arg[0], err, sizeof(err)) != 0) {
		ctl_warn("%s", err);
		goto done;
	}
	for (size_t i = 0; i < v.n; i++)
		state_dkim_files_remove(st, v.name[i]);
	printf("tenant %s removed with its accounts, keys, domains (and DKIM key files),"
	    " connectors and suppression list\n", a->arg[0]);
	rc = CTL_EXIT_OK;
done:
	free(v.name);
	return rc;
}

static const struct ctl_sub ctl_tenant_subs[] = {
	{ "add",     1, 1, CTL_O_POOL | CTL_O_BOUNCE, false, ctl_tenant_add },
	{ "list",    0, 0, 0, false, ctl_tenant_list },
	{ "show",    1, 1, 0, false, ctl_tenant_show },
	{ "set",     1, 1, CTL_O_POOL | CTL_O_BOUNCE | CTL_O_WEIGHT | CTL_O_SUPPRESSED, false,
	  ctl_tenant_set },
	{ "limit",   1, 1, CTL_O_LIMITS, false, ctl_tenant_limit },
	{ "suspend", 1, 1, CTL_O_REASON, false, ctl_tenant_suspend },
	{ "resume",  1, 1, 0, false, ctl_tenant_resume },
	{ "del",     1, 1, 0, false, ctl_tenant_del },
};

int
ctl_tenant_main(struct ctl *c, int argc, char **argv)
{
	static const struct ctl_group g = { "tenant", ctl_tenant_usage, ctl_tenant_subs,
	    sizeof(ctl_tenant_subs) / sizeof(ctl_tenant_subs[0]) };

	return ctl_group_main(c, &g, argc, argv);
}
