/*
 * ctl_admin_token.c - `ferryctl admin-token`: print the HTTP API's admin
 * token (http_admin_token_file, made by ferryd at its first start), for
 * curl and the dashboard's login.
 * SECURITY: the file is mode 0600, owned by ferryd's user: only root or
 * that user can read it, so only they get the token.
 */
#include <stdio.h>

#include "conf/conf.h"
#include "ferryctl/ctl.h"
#include "http/http_token.h"

const char ctl_admin_token_usage[] =
    "  admin-token                           print the HTTP API's admin token (made by ferryd at\n"
    "                                        its first start; see http_admin_token_file)\n";

int
ctl_admin_token_main(struct ctl *c, int argc, char **argv)
{
	char tok[HTTP_TOKEN_MAX + 1], err[1024];
	const struct conf *k;

	(void)argv;
	if (argc != 1) {
		ctl_warn("admin-token takes no arguments");
		fputs(ctl_admin_token_usage, stderr);
		return CTL_EXIT_USAGE;
	}
	if ((k = ctl_conf_get(c)) == NULL)
		return CTL_EXIT_ERR;
	if (http_token_read(k->http_admin_token_file, tok, err, sizeof(err)) < 0) {
		ctl_warn("%s (ferryd makes the file at its first start)", err);
		return CTL_EXIT_ERR;
	}
	printf("%s\n", tok);
	return CTL_EXIT_OK;
}
