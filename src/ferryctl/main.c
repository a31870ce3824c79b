/*
 * main.c - ferryctl, the administration tool: global options, then one
 * command from a table (each command lives in its own ctl_*.c file).
 * SECURITY: run by the administrator; `user` edits ferry's files directly,
 * tenant/account/key/domain/connector edit the state database (SQLite,
 * which ferryd reads at each use), `queue` asks ferryd over its control
 * socket (which checks who asks).
 * Exit 0 ok, 1 error, 2 usage.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "conf/conf.h"
#include "ferryctl/ctl.h"

static const struct ctl_cmd ctl_cmds[] = {
	{ "user",  ctl_user_main,  ctl_user_usage },
	{ "queue", ctl_queue_main, ctl_queue_usage },
	{ "tenant",    ctl_tenant_main,    ctl_tenant_usage },
	{ "account",   ctl_account_main,   ctl_account_usage },
	{ "key",       ctl_key_main,       ctl_key_usage },
	{ "domain",    ctl_domain_main,    ctl_domain_usage },
	{ "connector", ctl_connector_main, ctl_connector_usage },
	{ "events",    ctl_events_main,    ctl_events_usage },
	{ "bounce",    ctl_bounce_main,    ctl_bounce_usage },
	{ "suppression", ctl_suppression_main, ctl_suppression_usage },
	{ "stats",     ctl_stats_main,     ctl_stats_usage },
	{ "admin-token", ctl_admin_token_main, ctl_admin_token_usage },
	{ "webhook",   ctl_webhook_main,   ctl_webhook_usage },
	{ "metrics",   ctl_metrics_main,   ctl_metrics_usage },
	{ "cluster",   ctl_cluster_main,   ctl_cluster_usage },
	{ "db",        ctl_db_main,        ctl_db_usage },
};

void
ctl_warn(const char *fmt, ...)
{
	va_list ap;

	fputs("ferryctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
ctl_usage_print(bool to_stderr)
{
	FILE *f = to_stderr ? stderr : stdout;

	fputs("usage: ferryctl [-c CONFIG] [-u USERS_FILE] [-s SOCKET] COMMAND ...\n\ncommands:\n", f);
	for (size_t i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++)
		fputs(ctl_cmds[i].usage, f);
	fputs("\noptions:\n"
	    "  -c, --config FILE   the ferry.conf to take the users file, state database and socket from\n"
	    "  -u, --users FILE    the users file (wins over -c and $FERRY_USERS)\n"
	    "  -s, --socket PATH   ferryd's control socket (wins over -c)\n"
	    "  -h, --help          print this help\n", f);
}

/* getopt's own messages would name argv[0], often a full path. */
void
ctl_opt_warn(int ch, char **argv)
{
	const char *opt = argv[optind - 1];

	if (ch == ':' && optopt != 0)
		ctl_warn("option -%c needs an argument", optopt);
	else if (ch == ':')
		ctl_warn("option %s needs an argument", opt);
	else if (optopt != 0)
		ctl_warn("unknown option -%c", optopt);
	else
		ctl_warn("unknown option %s", opt);
}

static const struct ctl_cmd *
ctl_cmd_find(const char *name)
{
	for (size_t i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++)
		if (strcmp(ctl_cmds[i].name, name) == 0)
			return &ctl_cmds[i];
	return NULL;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "users",  required_argument, NULL, 'u' },
		{ "socket", required_argument, NULL, 's' },
		{ "help",   no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl c = { 0 };
	const struct ctl_cmd *cmd;
	int ch, rc;

	opterr = 0;
	/* '+': stop at the command; its options are its own. */
	while ((ch = getopt_long(argc, argv, "+:c:u:s:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': c.config = optarg; break;
		case 'u': c.users_opt = optarg; break;
		case 's': c.socket_opt = optarg; break;
		case 'h': ctl_usage_print(false); return CTL_EXIT_OK;
		default:
			ctl_opt_warn(ch, argv);
			ctl_usage_print(true);
			return CTL_EXIT_USAGE;
		}
	}
	/* As ferry-sendmail: one variable points every tool at an installed
	 * configuration; without either, the embedded default (./var). */
	if (c.config == NULL)
		c.config = conf_env_path();
	if (optind >= argc) {
		ctl_warn("no command");
		ctl_usage_print(true);
		return CTL_EXIT_USAGE;
	}
	if ((cmd = ctl_cmd_find(argv[optind])) == NULL) {
		ctl_warn("unknown command %s", argv[optind]);
		ctl_usage_print(true);
		return CTL_EXIT_USAGE;
	}
	rc = cmd->run(&c, argc - optind, argv + optind);
	ctl_conf_free(&c);
	return rc;
}
