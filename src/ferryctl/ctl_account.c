/*
 * ctl_account.c - `ferryctl account add|passwd|del|list|limit`: a tenant's
 * accounts, the user names and passwords its clients give to SMTP AUTH
 * (unique across tenants).
 * SECURITY: the password is read by ctl_pass.c (terminal without echo, or
 * one line of stdin), hashed with argon2id by state_admin.c and wiped here.
 */
#include <sodium.h>
#include <stdio.h>

#include "auth/auth_users.h"
#include "ferryctl/ctl_state.h"
#include "state/state_admin.h"

const char ctl_account_usage[] =
    "  account add TENANT NAME [--password-stdin]\n"
    "                                        add an SMTP AUTH account (unique across tenants)\n"
    "  account passwd TENANT NAME [--password-stdin]\n"
    "                                        set its password\n"
    "  account del TENANT NAME               remove it\n"
    "  account list TENANT                   the tenant's accounts and their limits\n"
    "  account limit TENANT NAME [--per-minute N] [--per-hour N] [--per-day N] [--rcpts N]\n";

typedef int (*ctl_account_pass_fn)(struct state *st, const char *tenant, const char *name,
    const char *pass, char *err, size_t errlen);

static int
ctl_account_pass(const struct ctl_sargs *a, struct state *st, ctl_account_pass_fn fn,
    const char *done)
{
	char pass[AUTH_PASS_MAX + 1], err[1024];
	int rc = CTL_EXIT_ERR;

	if (ctl_pass_get(a->arg[1], a->pass_stdin, pass, sizeof(pass)) < 0)
		goto out;
	if (fn(st, a->arg[0], a->arg[1], pass, err, sizeof(err)) != 0) {
		ctl_warn("%s", err);
		goto out;
	}
	printf("account %s of tenant %s %s\n", a->arg[1], a->arg[0], done);
	rc = CTL_EXIT_OK;
out:
	sodium_memzero(pass, sizeof(pass));
	return rc;
}

static int
ctl_account_add(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char err[1024];
	struct state_tenant_info t;

	(void)c;
	/* Check the tenant before asking for a password typed twice. */
	if (state_tenant_get(st, a->arg[0], &t, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	if (!state_name_valid(a->arg[1])) {
		ctl_warn("invalid account name %s: 1 to %d of A-Z a-z 0-9 . _ -", a->arg[1],
		    STATE_NAME_MAX);
		return CTL_EXIT_ERR;
	}
	return ctl_account_pass(a, st, state_account_add, "added");
}

static int
ctl_account_passwd(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	(void)c;
	return ctl_account_pass(a, st, state_account_passwd, "has a new password");
}

static int
ctl_account_del(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char err[1024];

	(void)c;
	if (state_account_del(st, a->arg[0], a->arg[1], err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	printf("account %s of tenant %s removed\n", a->arg[1], a->arg[0]);
	return CTL_EXIT_OK;
}

static void
ctl_account_line(void *arg, const struct state_account *acc)
{
	char lim[160];

	(void)arg;
	printf("%s\t%s\n", acc->name, ctl_limits_text(&acc->limits, lim, sizeof(lim)));
}

static int
ctl_account_list(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char err[1024];

	(void)c;
	if (state_account_list(st, a->arg[0], ctl_account_line, NULL, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	return CTL_EXIT_OK;
}

static int
ctl_account_limit(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char err[1024];

	(void)c;
	if (!a->limits_set) {
		ctl_warn("account limit: no limit given (--per-minute, --per-hour, --per-day, --rcpts)");
		return CTL_EXIT_USAGE;
	}
	if (state_account_limit(st, a->arg[0], a->arg[1], &a->limits, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	printf("account %s of tenant %s: limits changed\n", a->arg[1], a->arg[0]);
	return CTL_EXIT_OK;
}

static const struct ctl_sub ctl_account_subs[] = {
	{ "add",    2, 2, CTL_O_PASS, false, ctl_account_add },
	{ "passwd", 2, 2, CTL_O_PASS, false, ctl_account_passwd },
	{ "del",    2, 2, 0, false, ctl_account_del },
	{ "list",   1, 1, 0, false, ctl_account_list },
	{ "limit",  2, 2, CTL_O_LIMITS, false, ctl_account_limit },
};

int
ctl_account_main(struct ctl *c, int argc, char **argv)
{
	static const struct ctl_group g = { "account", ctl_account_usage, ctl_account_subs,
	    sizeof(ctl_account_subs) / sizeof(ctl_account_subs[0]) };

	return ctl_group_main(c, &g, argc, argv);
}
