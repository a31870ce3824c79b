/*
 * ctl_conf.c - ferryctl's configuration: ferry.conf read once, through the
 * conf module as ferryd reads it, so every command accepts and refuses the
 * same lines with ferryd's FILE:LINE messages. Without -c, the
 * embedded default (spool ./var), as ferryd without -c.
 * Users file: -u FILE; else -c CONFIG's users_file; else $FERRY_USERS;
 * else the embedded default's, ./var/users.
 * State database: the configuration's state_db.
 * Control socket: -s PATH; else the configuration's control_socket.
 * SECURITY: the config file and the environment are the administrator's.
 * The files the configuration names (dkim_sign keys, tls_ca_file) are not
 * opened (CONF_LOAD_NO_FILES): no command uses them, and mailq runs
 * ferryctl as users who may not read ferryd's private keys; ferryd -t
 * checks them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "ferryctl/ctl.h"

const struct conf *
ctl_conf_get(struct ctl *c)
{
	char err[1024];

	if (c->conf == NULL && (c->conf = conf_load_flags(c->config, CONF_LOAD_NO_FILES, err,
	    sizeof(err))) == NULL)
		ctl_warn("%s", err);
	return c->conf;
}

void
ctl_conf_free(struct ctl *c)
{
	conf_free(c->conf);
	c->conf = NULL;
}

static int
ctl_path_copy(char dst[CTL_PATH_MAX], const char *path, const char *what)
{
	if (strlen(path) >= CTL_PATH_MAX) {
		ctl_warn("%s path too long", what);
		return -1;
	}
	strcpy(dst, path);
	return 0;
}

int
ctl_users_path(struct ctl *c)
{
	const char *env = getenv("FERRY_USERS");
	const struct conf *k;

	if (c->users_opt != NULL)
		return ctl_path_copy(c->users, c->users_opt, "users file");
	if (c->config == NULL && env != NULL && env[0] != '\0')
		return ctl_path_copy(c->users, env, "users file");
	if ((k = ctl_conf_get(c)) == NULL)
		return -1;
	return ctl_path_copy(c->users, k->users_file, "users file");
}

int
ctl_state_path(struct ctl *c)
{
	const struct conf *k = ctl_conf_get(c);

	if (k == NULL)
		return -1;
	return ctl_path_copy(c->state, k->state_db, "state database");
}

int
ctl_control_path(struct ctl *c)
{
	const struct conf *k;

	if (c->socket_opt != NULL)
		return ctl_path_copy(c->control, c->socket_opt, "control socket");
	if ((k = ctl_conf_get(c)) == NULL)
		return -1;
	return ctl_path_copy(c->control, k->control_socket, "control socket");
}
