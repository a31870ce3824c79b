/*
 * ctl_conf.c - where the users file and the control socket are.
 * Users file: -u FILE; then -c CONFIG, read the way ferryd reads it
 * (users_file, else spool_dir/users, else /var/spool/ferry/users); then
 * $FERRY_USERS; then ./var/users, the file of ferryd's embedded default.
 * Only those two keys are read from ferry.conf, with its syntax (key,
 * whitespace, value; '#' at a word's start comments), so that `user` works
 * on a configuration ferryd would refuse for other reasons.
 * State database: the same way, state_db else spool_dir/ferry.db (-c), or
 * ./var/ferry.db, the embedded default's.
 * Control socket: -s PATH; else control_socket as ferryd's own parser
 * (conf.h) resolves it from -c CONFIG, or from the embedded default.
 * SECURITY: the config file and the environment are the administrator's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "ferryctl/ctl.h"

#define CTL_CONF_LINE_MAX 4096
#define CTL_CONF_WORDS    3       /* a key, one value, and one too many */

/* What ferryctl takes from ferry.conf. */
struct ctl_conf {
	const char *file;
	int         line;
	char        users_file[CTL_PATH_MAX];
	char        spool_dir[CTL_PATH_MAX];
	char        state_db[CTL_PATH_MAX];
};

/* Split into at most max words; '#' at a word's start ends the line.
 * Returns the count, or max when there are more. */
static int
ctl_conf_split(char *s, char **w, int max)
{
	int n = 0;

	for (;;) {
		s += strspn(s, " \t\r\n");
		if (*s == '\0' || *s == '#' || n == max)
			return n;
		w[n++] = s;
		s += strcspn(s, " \t\r\n");
		if (*s != '\0')
			*s++ = '\0';
	}
}

/* Keep one path option; ferryd refuses it twice, and so do we. */
static int
ctl_conf_path_set(struct ctl_conf *k, char *dst, char **w, int n)
{
	if (n != 2) {
		ctl_warn("%s:%d: %s takes one value", k->file, k->line, w[0]);
		return -1;
	}
	if (dst[0] != '\0') {
		ctl_warn("%s:%d: %s is set twice", k->file, k->line, w[0]);
		return -1;
	}
	if (strlen(w[1]) >= CTL_PATH_MAX) {
		ctl_warn("%s:%d: %s is too long", k->file, k->line, w[0]);
		return -1;
	}
	strcpy(dst, w[1]);
	return 0;
}

static int
ctl_conf_line(struct ctl_conf *k, char *line)
{
	char *w[CTL_CONF_WORDS];
	int n = ctl_conf_split(line, w, CTL_CONF_WORDS);

	if (n > 0 && strcmp(w[0], "users_file") == 0)
		return ctl_conf_path_set(k, k->users_file, w, n);
	if (n > 0 && strcmp(w[0], "spool_dir") == 0)
		return ctl_conf_path_set(k, k->spool_dir, w, n);
	if (n > 0 && strcmp(w[0], "state_db") == 0)
		return ctl_conf_path_set(k, k->state_db, w, n);
	return 0;   /* everything else is ferryd's business */
}

static int
ctl_conf_read(struct ctl_conf *k)
{
	char line[CTL_CONF_LINE_MAX];
	FILE *f = fopen(k->file, "re");
	int rc = 0;

	if (f == NULL) {
		ctl_warn("%s: %s", k->file, strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		k->line++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			ctl_warn("%s:%d: line too long (max %d)", k->file, k->line, CTL_CONF_LINE_MAX - 2);
			rc = -1;
		} else
			rc = ctl_conf_line(k, line);
	}
	if (rc == 0 && ferror(f)) {
		ctl_warn("%s: read error", k->file);
		rc = -1;
	}
	fclose(f);
	return rc;
}

static int
ctl_path_join(char dst[CTL_PATH_MAX], const char *a, const char *b, const char *what)
{
	int n = snprintf(dst, CTL_PATH_MAX, "%s%s", a, b);

	if (n < 0 || n >= CTL_PATH_MAX) {
		ctl_warn("%s path too long", what);
		return -1;
	}
	return 0;
}

static int
ctl_path_set(struct ctl *c, const char *a, const char *b)
{
	return ctl_path_join(c->users, a, b, "users file");
}

/* The users file as ferryd would find it with this config. */
static int
ctl_users_from_conf(struct ctl *c)
{
	struct ctl_conf k = { .file = c->config };

	if (ctl_conf_read(&k) < 0)
		return -1;
	if (k.users_file[0] != '\0')
		return ctl_path_set(c, k.users_file, "");
	if (k.spool_dir[0] != '\0')
		return ctl_path_set(c, k.spool_dir, "/users");
	return ctl_path_set(c, "/var/spool/ferry", "/users");
}

int
ctl_users_path(struct ctl *c)
{
	const char *env = getenv("FERRY_USERS");

	if (c->users_opt != NULL)
		return ctl_path_set(c, c->users_opt, "");
	if (c->config != NULL)
		return ctl_users_from_conf(c);
	if (env != NULL && env[0] != '\0')
		return ctl_path_set(c, env, "");
	return ctl_path_set(c, "./var/users", "");
}

/* The state database as ferryd would find it with this config. */
int
ctl_state_path(struct ctl *c)
{
	struct ctl_conf k = { .file = c->config };

	if (c->config == NULL)
		return ctl_path_join(c->state, "./var/ferry.db", "", "state database");
	if (ctl_conf_read(&k) < 0)
		return -1;
	if (k.state_db[0] != '\0')
		return ctl_path_join(c->state, k.state_db, "", "state database");
	if (k.spool_dir[0] != '\0')
		return ctl_path_join(c->state, k.spool_dir, "/ferry.db", "state database");
	return ctl_path_join(c->state, "/var/spool/ferry", "/ferry.db", "state database");
}

static int
ctl_control_set(struct ctl *c, const char *path)
{
	if (strlen(path) >= sizeof(c->control)) {
		ctl_warn("control socket path too long");
		return -1;
	}
	strcpy(c->control, path);
	return 0;
}

int
ctl_control_path(struct ctl *c)
{
	char err[1024];
	struct conf *k;
	int rc;

	if (c->socket_opt != NULL)
		return ctl_control_set(c, c->socket_opt);
	if ((k = conf_load(c->config, err, sizeof(err))) == NULL) {
		ctl_warn("%s", err);
		return -1;
	}
	rc = ctl_control_set(c, k->control_socket);
	conf_free(k);
	return rc;
}
