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
#include "reputation/rep.h"
#include "state/state_admin.h"
#include "state/suppress.h"
#include "state/unsub.h"
#include "util/xmalloc.h"

const char ctl_tenant_usage[] =
    "  tenant add NAME [--pool POOL] [--bounce-domain DOMAIN]\n"
    "                                        add a tenant of the relay service\n"
    "  tenant list                           the tenants, one a line\n"
    "  tenant show NAME                      settings, limits, usage, accounts, keys, domains\n"
    "  tenant set NAME [--pool POOL] [--bounce-domain DOMAIN] [--weight N] [--suppressed reject|drop]\n"
    "               [--spam-action reject|hold|header] [--unsubscribe on|off]\n"
    "                                        (\"\" clears) weight: messages at each turn of a busy\n"
    "                                        destination (1-100); suppressed: a recipient on the\n"
    "                                        tenant's suppression list refused at RCPT, or dropped;\n"
    "                                        spam action: a message a content filter refuses as spam\n"
    "                                        is refused (550 5.7.1), held, or marked X-Ferry-Spam;\n"
    "                                        unsubscribe: one-click List-Unsubscribe headers (RFC 8058)\n"
    "                                        on its mail (needs http_public_url)\n"
    "  tenant limit NAME [--per-minute N] [--per-hour N] [--per-day N] [--rcpts N]\n"
    "                                        messages per window, recipients per message (0: none)\n"
    "  tenant set NAME [--min-volume N] [--complaint-throttle P] [--complaint-suspend P]\n"
    "      [--hard-bounce-throttle P] [--unknown-throttle P] [--spike-factor X] [--spike-min N]\n"
    "      [--throttle-rate N]             the tenant's reputation thresholds (P: 0.3%;\n"
    "                                        \"default\": ferry.conf's abuse_* value)\n"
    "  tenant suspend NAME [--reason TEXT]   refuse the tenant's mail (4xx) until resumed\n"
    "  tenant throttle NAME [--reason TEXT]  limit it to its throttle rate (recipients/hour)\n"
    "  tenant review NAME [--reason TEXT]    accept its new mail into hold for review\n"
    "  tenant resume NAME                    clear suspension, throttle and review;\n"
    "                                        release its held mail\n"
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
ctl_tenant_abuse_set(struct state *st, const char *name, const struct rep_override *o)
{
	struct state_tenant_info t;
	char err[1024];

	if (state_tenant_get(st, name, &t, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	if (rep_override_set(st, t.t.id, o) != 0)
		return ctl_state_fail("cannot store the reputation thresholds (database error)");
	return 0;
}

/* --unsubscribe on|off; on without http_public_url is stored but said
 * to do nothing yet (links need the public URL). */
static int
ctl_tenant_unsub_set(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	const struct conf *k;
	char err[1024];
	int n = state_tenant_unsubscribe_set(st, a->arg[0], a->unsubscribe == 1);

	if (n <= 0) {
		snprintf(err, sizeof(err), n == 0 ? "no tenant %s" : "cannot set --unsubscribe of %s", a->arg[0]);
		ctl_state_fail(err);
		return -1;
	}
	if (a->unsubscribe == 1 && (k = ctl_conf_get(c)) != NULL &&
	    (k->http_public_url == NULL || k->http_public_url[0] == '\0'))
		fprintf(stderr, "ferryctl: note: %s has no http_public_url: no List-Unsubscribe header is added"
		    " until it is set\n", c->config != NULL ? c->config : "the configuration");
	return 0;
}

static int
ctl_tenant_set(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	enum suppress_mode mode = SUPPRESS_MODE_REJECT;
	char err[1024];

	if (a->pool == NULL && a->bounce == NULL && a->weight < 0 && !a->abuse_set && a->suppressed == NULL &&
	    a->spam_action < 0 && a->unsubscribe < 0) {
		ctl_warn("tenant set: nothing to set (--pool, --bounce-domain, --weight, --suppressed, --spam-action,"
		    " --unsubscribe, reputation thresholds)");
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
	if (a->abuse_set && ctl_tenant_abuse_set(st, a->arg[0], &a->abuse) != 0)
		return CTL_EXIT_ERR;
	if (a->suppressed != NULL &&
	    state_tenant_suppress_mode_set(st, a->arg[0], mode, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	if (a->spam_action >= 0) {
		int n = state_tenant_spam_action_set(st, a->arg[0], (enum state_spam_action)a->spam_action);
		if (n <= 0) {
			snprintf(err, sizeof(err), n == 0 ? "no tenant %s" : "cannot set the spam action of %s",
			    a->arg[0]);
			return ctl_state_fail(err);
		}
	}
	if (a->unsubscribe >= 0 && ctl_tenant_unsub_set(c, st, a) != 0)
		return CTL_EXIT_ERR;
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

/* `tenant throttle|review NAME`: an operator's enforcement, as the
 * automatic one would set it (and cleared the same way, by resume). */
static int
ctl_tenant_enforce(struct state *st, const struct ctl_sargs *a, enum rep_state s)
{
	struct state_tenant_info t;
	char err[1024], reason[REP_REASON_MAX + 1];

	if (a->reason != NULL && (strlen(a->reason) > 100 || strpbrk(a->reason, "\r\n") != NULL)) {
		ctl_warn("the reason must be one line of at most 100 octets");
		return CTL_EXIT_USAGE;
	}
	if (state_tenant_get(st, a->arg[0], &t, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	snprintf(reason, sizeof(reason), "set by an operator%s%s", a->reason ? ": " : "",
	    a->reason ? a->reason : "");
	if (rep_enforce_set(st, t.t.id, s, reason, time(NULL)) != 0)
		return ctl_state_fail("cannot store the enforcement state (database error)");
	printf("tenant %s %s: %s\n", a->arg[0], s == REP_THROTTLED ? "throttled" : "under review",
	    s == REP_THROTTLED ? "its mail is limited to its throttle rate per hour"
	    : "its new mail is accepted and held");
	return CTL_EXIT_OK;
}

static int
ctl_tenant_throttle(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	(void)c;
	return ctl_tenant_enforce(st, a, REP_THROTTLED);
}

static int
ctl_tenant_review(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	(void)c;
	return ctl_tenant_enforce(st, a, REP_REVIEW);
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
	/* throttle and review too; the rates restart from now */
	if (rep_enforce_clear(st, id, time(NULL)) != 0)
		return ctl_state_fail("cannot clear the enforcement state (database error)");
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
	{ "set",     1, 1, CTL_O_POOL | CTL_O_BOUNCE | CTL_O_WEIGHT | CTL_O_ABUSE | CTL_O_SUPPRESSED | CTL_O_SPAM |
	  CTL_O_UNSUB,
	  false,
	  ctl_tenant_set },
	{ "limit",   1, 1, CTL_O_LIMITS, false, ctl_tenant_limit },
	{ "suspend", 1, 1, CTL_O_REASON, false, ctl_tenant_suspend },
	{ "throttle", 1, 1, CTL_O_REASON, false, ctl_tenant_throttle },
	{ "review",  1, 1, CTL_O_REASON, false, ctl_tenant_review },
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
