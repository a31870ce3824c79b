/*
 * ctl_key.c - `ferryctl key create|list|revoke|rotate`: a tenant's API
 * keys, the SMTP AUTH passwords of programs (user name "apikey" or the
 * tenant's name).
 * SECURITY: a new key is printed once, alone on the first line of stdout
 * so scripts can take it, and wiped; the database keeps only its SHA-256
 * and its public prefix.
 */
#include <sodium.h>
#include <stdio.h>

#include "ferryctl/ctl_state.h"
#include "state/state_admin.h"

const char ctl_key_usage[] =
    "  key create TENANT [--label TEXT]      a new API key (printed once, first line)\n"
    "  key list TENANT                       prefixes, labels, creation, revocation\n"
    "  key revoke TENANT PREFIX              refuse a key from now on\n"
    "  key rotate TENANT PREFIX              a new key with the same label; the old one revoked\n";

static void
ctl_key_print(const char *key, const char *tenant)
{
	printf("%s\n", key);
	printf("# the API key above is shown only now: it is the SMTP AUTH password, with the user"
	    " name \"apikey\" or \"%s\"\n", tenant);
}

static int
ctl_key_create(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char key[STATE_KEY_TEXT_MAX + 1], err[1024];

	(void)c;
	if (state_key_create(st, a->arg[0], a->label, key, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	ctl_key_print(key, a->arg[0]);
	sodium_memzero(key, sizeof(key));
	return CTL_EXIT_OK;
}

static void
ctl_key_line(void *arg, const struct state_key_info *k)
{
	char when[64], rev[64];

	(void)arg;
	printf("%s\tcreated %s\t%s%s\t%s\n", k->prefix, ctl_time_text(k->created, when, sizeof(when)),
	    k->revoked ? "revoked " : "active", k->revoked ? ctl_time_text(k->revoked, rev,
	    sizeof(rev)) : "", k->label);
}

static int
ctl_key_list(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char err[1024];

	(void)c;
	if (state_key_list(st, a->arg[0], ctl_key_line, NULL, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	return CTL_EXIT_OK;
}

static int
ctl_key_revoke(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char err[1024];

	(void)c;
	if (state_key_revoke(st, a->arg[0], a->arg[1], err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	printf("key %s of tenant %s revoked\n", a->arg[1], a->arg[0]);
	return CTL_EXIT_OK;
}

static int
ctl_key_rotate(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char key[STATE_KEY_TEXT_MAX + 1], err[1024];

	(void)c;
	if (state_key_rotate(st, a->arg[0], a->arg[1], key, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	ctl_key_print(key, a->arg[0]);
	printf("# key %s is revoked\n", a->arg[1]);
	sodium_memzero(key, sizeof(key));
	return CTL_EXIT_OK;
}

static const struct ctl_sub ctl_key_subs[] = {
	{ "create", 1, 1, CTL_O_LABEL, false, ctl_key_create },
	{ "list",   1, 1, 0, false, ctl_key_list },
	{ "revoke", 2, 2, 0, false, ctl_key_revoke },
	{ "rotate", 2, 2, 0, false, ctl_key_rotate },
};

int
ctl_key_main(struct ctl *c, int argc, char **argv)
{
	static const struct ctl_group g = { "key", ctl_key_usage, ctl_key_subs,
	    sizeof(ctl_key_subs) / sizeof(ctl_key_subs[0]) };

	return ctl_group_main(c, &g, argc, argv);
}
