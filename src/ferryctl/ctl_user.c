/*
 * ctl_user.c - `ferryctl user add|passwd|del|list`: the SMTP AUTH users
 * file (auth_users.h), one subcommand per table row.
 * SECURITY: passwords are read by ctl_pass.c, hashed with argon2id by
 * auth_users_file_*, and wiped here; the file is rewritten atomically
 * under a lock, so concurrent runs and a running ferryd are safe.
 */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth_users.h"
#include "ferryctl/ctl.h"

const char ctl_user_usage[] =
    "  user add [--password-stdin] NAME      add a user (asks for the password twice)\n"
    "  user passwd [--password-stdin] NAME   set a user's password\n"
    "  user del NAME                         remove a user\n"
    "  user list                             print the user names, one a line\n";

struct ctl_user_args {
	const char *name;          /* NULL for list */
	bool        pass_stdin;
};

struct ctl_user_cmd {
	const char *name;
	bool        takes_name;
	bool        takes_pass;    /* accepts --password-stdin */
	int       (*run)(struct ctl *c, const struct ctl_user_args *a);
};

static void
ctl_user_changed(const struct ctl *c, const char *name, const char *what)
{
	printf("user %s %s (%s)\n", name, what, c->users);
	printf("ferryd picks this up by itself: it re-reads the users file when it changes\n");
}

/* Load the file to check the user before asking for a password, so an
 * administrator does not type it twice for nothing. The edit checks again
 * under the lock. */
static int
ctl_user_expect(const struct ctl *c, const char *name, bool exists)
{
	char err[1024];
	struct auth_users *u = auth_users_load(c->users, err, sizeof(err));
	bool found;

	if (u == NULL) {
		ctl_warn("%s", err);
		return -1;
	}
	found = auth_users_exists(u, name);
	auth_users_free(u);
	if (found && !exists)
		ctl_warn("user %s already exists in %s", name, c->users);
	else if (!found && exists)
		ctl_warn("no user %s in %s", name, c->users);
	return found == exists ? 0 : -1;
}

typedef int (*ctl_pass_edit_fn)(const char *path, const char *name, const char *pass,
    char *err, size_t errlen);

/* add and passwd: check, read the password, write, wipe. */
static int
ctl_user_set(struct ctl *c, const struct ctl_user_args *a, bool exists,
    ctl_pass_edit_fn edit, const char *what)
{
	char pass[AUTH_PASS_MAX + 1], err[1024];
	int rc = CTL_EXIT_ERR;

	if (ctl_user_expect(c, a->name, exists) < 0)
		return CTL_EXIT_ERR;
	if (ctl_pass_get(a->name, a->pass_stdin, pass, sizeof(pass)) < 0)
		goto done;
	if (edit(c->users, a->name, pass, err, sizeof(err)) < 0) {
		ctl_warn("%s", err);
		goto done;
	}
	ctl_user_changed(c, a->name, what);
	rc = CTL_EXIT_OK;
done:
	sodium_memzero(pass, sizeof(pass));
	return rc;
}

static int
ctl_user_add(struct ctl *c, const struct ctl_user_args *a)
{
	return ctl_user_set(c, a, false, auth_users_file_add, "added");
}

static int
ctl_user_passwd(struct ctl *c, const struct ctl_user_args *a)
{
	return ctl_user_set(c, a, true, auth_users_file_passwd, "has a new password");
}

static int
ctl_user_del(struct ctl *c, const struct ctl_user_args *a)
{
	char err[1024];

	if (auth_users_file_del(c->users, a->name, err, sizeof(err)) < 0) {
		ctl_warn("%s", err);
		return CTL_EXIT_ERR;
	}
	ctl_user_changed(c, a->name, "removed");
	return CTL_EXIT_OK;
}

static int
ctl_user_list(struct ctl *c, const struct ctl_user_args *a)
{
	char err[1024];
	struct auth_users *u = auth_users_load(c->users, err, sizeof(err));

	(void)a;
	if (u == NULL) {
		ctl_warn("%s", err);
		return CTL_EXIT_ERR;
	}
	for (size_t i = 0; i < auth_users_count(u); i++)
		printf("%s\n", auth_users_name(u, i));
	auth_users_free(u);
	return fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_ERR;
}

static const struct ctl_user_cmd ctl_user_cmds[] = {
	{ "add",    true,  true,  ctl_user_add },
	{ "passwd", true,  true,  ctl_user_passwd },
	{ "del",    true,  false, ctl_user_del },
	{ "list",   false, false, ctl_user_list },
};

static int
ctl_user_usage_error(void)
{
	fputs("usage:\n", stderr);
	fputs(ctl_user_usage, stderr);
	return CTL_EXIT_USAGE;
}

/* Options and operands of one subcommand; argv[0] is its name. Returns 0
 * if fine, -1 after printing help, or an exit code after an error. */
static int
ctl_user_args_parse(const struct ctl_user_cmd *cmd, int argc, char **argv,
    struct ctl_user_args *a)
{
	static const struct option longopts[] = {
		{ "password-stdin", no_argument, NULL, 'p' },
		{ "help",           no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, want = cmd->takes_name ? 1 : 0;

	optind = 0;   /* glibc: start over on this argv */
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(ctl_user_usage, stdout);
			return -1;
		}
		if (ch == 'p' && !cmd->takes_pass)
			ctl_warn("user %s reads no password", cmd->name);
		else if (ch != 'p')
			ctl_opt_warn(ch, argv);
		if (ch != 'p' || !cmd->takes_pass)
			return ctl_user_usage_error();
		a->pass_stdin = true;
	}
	if (argc - optind != want) {
		ctl_warn("user %s takes %s", cmd->name, want ? "one NAME" : "no operand");
		return ctl_user_usage_error();
	}
	a->name = cmd->takes_name ? argv[optind] : NULL;
	if (a->name != NULL && !auth_user_name_valid(a->name, strlen(a->name))) {
		ctl_warn("invalid user name %s: 1 to %d octets of UTF-8, no spaces, ':' or "
		    "control characters, not starting with '#'", a->name, AUTH_USER_MAX);
		return CTL_EXIT_ERR;
	}
	return 0;
}

int
ctl_user_main(struct ctl *c, int argc, char **argv)
{
	struct ctl_user_args a = { 0 };
	const struct ctl_user_cmd *cmd = NULL;
	int rc;

	if (argc < 2) {
		ctl_warn("user needs a subcommand");
		return ctl_user_usage_error();
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(ctl_user_usage, stdout);
		return CTL_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(ctl_user_cmds) / sizeof(ctl_user_cmds[0]); i++)
		if (strcmp(ctl_user_cmds[i].name, argv[1]) == 0)
			cmd = &ctl_user_cmds[i];
	if (cmd == NULL) {
		ctl_warn("unknown subcommand user %s", argv[1]);
		return ctl_user_usage_error();
	}
	if ((rc = ctl_user_args_parse(cmd, argc - 1, argv + 1, &a)) != 0)
		return rc < 0 ? CTL_EXIT_OK : rc;
	if (ctl_users_path(c) < 0)
		return CTL_EXIT_ERR;
	return cmd->run(c, &a);
}
