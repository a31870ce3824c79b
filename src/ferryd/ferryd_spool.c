/*
 * ferryd_spool.c - ferryd's hold on its spool directory.
 * One instance per spool: an exclusive flock(2) on the spool directory,
 * held until exit (spool_dir/ferryd.pid names the holder), so two daemons
 * never run queue managers over one queue (SO_REUSEPORT would let the
 * second bind the same ports).
 * The spool is the working directory: root's checkout under a 0700 /root
 * is the common case where the run user cannot search the spool's parents,
 * so everything under the spool is named relative to it and everything
 * else is checked once at start, as the run user, never per message.
 * SECURITY: enter and rebase run as root; check runs as the run user and
 * only reads.
 */
#include "ferryd/ferryd_spool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf/conf.h"
#include "db/db.h"
#include "state/state.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define FERRYD_PID_FILE "ferryd.pid"
#define FERRYD_PID_TMP  ".ferryd.pid.tmp"

/* "/a/./b//c/../d" becomes "/a/b/d", in place (p is absolute). Lexical:
 * the spool is compared both this way and with links resolved. */
static void
ferryd_path_clean(char *p)
{
	const char *in = p;
	size_t o = 0, n;

	for (;;) {
		while (*in == '/')
			in++;
		if ((n = strcspn(in, "/")) == 0)
			break;
		if (n == 2 && in[0] == '.' && in[1] == '.') {
			while (o > 0 && p[--o] != '/')
				;
		} else if (n != 1 || in[0] != '.') {
			/* o never passes in: every segment read was preceded by a '/' */
			p[o++] = '/';
			memmove(p + o, in, n);
			o += n;
		}
		in += n;
	}
	if (o == 0)
		p[o++] = '/';
	p[o] = '\0';
}

/* path made absolute from origin (the directory ferryd was started from,
 * which relative paths in the configuration are relative to) and cleaned;
 * NULL when too long. */
static char *
ferryd_path_abs(const char *origin, const char *path)
{
	char abs[PATH_MAX];
	int n = path[0] == '/' ? snprintf(abs, sizeof(abs), "%s", path) :
	    snprintf(abs, sizeof(abs), "%s/%s", origin, path);

	if (n < 0 || (size_t)n >= sizeof(abs))
		return NULL;
	ferryd_path_clean(abs);
	return xstrdup(abs);
}

/* path as ferryd opens it from the spool: relative under the spool,
 * absolute elsewhere. */
static char *
ferryd_spool_path(const struct ferryd_spool *fs, const char *path)
{
	const char *base[2] = { fs->spool, fs->spool_real };
	char *abs = ferryd_path_abs(fs->origin, path), *rel = NULL;

	if (abs == NULL)
		return xstrdup(path);
	for (size_t i = 0; i < 2 && rel == NULL; i++) {
		size_t len = strlen(base[i]);
		if (strcmp(abs, base[i]) == 0)
			rel = xstrdup(".");
		else if (len > 1 && strncmp(abs, base[i], len) == 0 && abs[len] == '/')
			rel = xstrdup(abs + len + 1);
	}
	if (rel == NULL)
		return abs;
	free(abs);
	return rel;
}

static void
ferryd_spool_path_set(const struct ferryd_spool *fs, char **path)
{
	char *p;

	/* a postgresql:// state location is not a file */
	if (*path == NULL || strcmp(*path, "-") == 0 || strcmp(*path, "none") == 0 || db_is_pg_uri(*path))
		return;
	p = ferryd_spool_path(fs, *path);
	free(*path);
	*path = p;
}

/* The submission socket's listener carries its own copy of the path. */
static void
ferryd_spool_local_rebase(struct conf *c)
{
	for (size_t i = 0; i < c->nlisteners; i++) {
		struct conf_listener *l = &c->listeners[i];
		struct sockaddr_un *sun = (struct sockaddr_un *)&l->ss;

		if (l->role != CONF_ROLE_LOCAL || strlen(c->submit_socket) >= sizeof(sun->sun_path))
			continue;
		snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", c->submit_socket);
		free(l->text);
		l->text = xstrdup(c->submit_socket);
	}
}

void
ferryd_spool_rebase(const struct ferryd_spool *fs, struct conf *c)
{
	char **paths[] = { &c->spool_dir, &c->users_file, &c->state_db, &c->maildir_root,
	    &c->control_socket, &c->submit_socket, &c->tls_cert, &c->tls_key, &c->tls_ca_file,
	    &c->log_file, &c->http_admin_token_file, &c->http_www_dir, &c->dkim_key_dir };

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		ferryd_spool_path_set(fs, paths[i]);
	for (size_t i = 0; i < c->nroutes; i++)      /* lmtp:/PATH */
		ferryd_spool_path_set(fs, &c->routes[i].path);
	ferryd_spool_local_rebase(c);
}

/* The pid another instance wrote, for the message ("?" before it has
 * written it, or when it is not a plain file). */
static void
ferryd_spool_lock_owner(char *pid, size_t pidlen)
{
	int fd = open(FERRYD_PID_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	ssize_t n = -1;

	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		n = pread(fd, pid, pidlen - 1, 0);
	if (fd >= 0)
		close(fd);
	pid[n > 0 ? n : 0] = '\0';
	pid[strspn(pid, "0123456789")] = '\0';
	if (pid[0] == '\0')
		snprintf(pid, pidlen, "?");
}

/* Write our pid to a new file and rename it into place: root never opens
 * an existing name in the run user's spool, so a link (symbolic or hard)
 * put there is replaced, never written through. Only for the message. */
static void
ferryd_spool_pid_write(void)
{
	char pid[32];
	int fd;

	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	(void)unlink(FERRYD_PID_TMP);          /* a stale one, or a link: removed, not followed */
	fd = open(FERRYD_PID_TMP, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, pid, strlen(pid)) != (ssize_t)strlen(pid) || close(fd) < 0 ||
	    rename(FERRYD_PID_TMP, FERRYD_PID_FILE) < 0) {
		log_warn("event=pid-file-write-failed file=%s error=\"%s\"", FERRYD_PID_FILE,
		    strerror(errno));
		(void)unlink(FERRYD_PID_TMP);
	}
}

/* The lock is the spool directory itself (the working directory here),
 * not a file in it: the run user cannot replace, remove or link it. */
static void
ferryd_spool_lock(struct ferryd_spool *fs)
{
	char pid[32];
	int fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "ferryd: %s: %s\n", fs->spool, strerror(errno));
		exit(1);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK) {
			fprintf(stderr, "ferryd: %s: lock: %s\n", fs->spool, strerror(errno));
			exit(1);
		}
		ferryd_spool_lock_owner(pid, sizeof(pid));
		fprintf(stderr, "ferryd: already running (pid %s) on %s\n", pid, fs->spool);
		exit(1);
	}
	ferryd_spool_pid_write();
	fs->lock_fd = fd;
}

/* path relative to origin when under it (reached from origin_fd by a
 * user who may not search origin's parents), else as ferryd_path_abs. */
static char *
ferryd_origin_path(const struct ferryd_spool *fs, const char *path)
{
	char *abs = ferryd_path_abs(fs->origin, path), *rel;
	size_t len = strlen(fs->origin);

	if (abs == NULL)
		return xstrdup(path);
	if (len <= 1 || strncmp(abs, fs->origin, len) != 0 || abs[len] != '/')
		return abs;
	rel = xstrdup(abs + len + 1);
	free(abs);
	return rel;
}

void
ferryd_spool_enter(struct ferryd_spool *fs, const char *spool_dir, const char *conf_path)
{
	char cwd[PATH_MAX], real[PATH_MAX];

	if (getcwd(cwd, sizeof(cwd)) == NULL)
		log_fatal("event=fatal reason=\"cannot get the working directory: %s\"", strerror(errno));
	fs->origin = xstrdup(cwd);
	fs->origin_fd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if ((fs->spool = ferryd_path_abs(cwd, spool_dir)) == NULL)
		log_fatal("event=fatal reason=\"spool %s: path too long\"", spool_dir);
	if (realpath(fs->spool, real) == NULL || chdir(real) < 0)
		log_fatal("event=fatal reason=\"spool %s: %s\"", fs->spool, strerror(errno));
	fs->spool_real = xstrdup(real);
	fs->conf_path = conf_path != NULL ? ferryd_spool_path(fs, conf_path) : NULL;
	fs->conf_rel = conf_path != NULL ? ferryd_origin_path(fs, conf_path) : NULL;
	ferryd_spool_lock(fs);
}

void
ferryd_spool_leave(struct ferryd_spool *fs)
{
	close(fs->lock_fd);
	if (fs->origin_fd >= 0)
		close(fs->origin_fd);
	free(fs->origin);
	free(fs->spool);
	free(fs->spool_real);
	free(fs->conf_path);
	free(fs->conf_rel);
}

static const char *
ferryd_user_name(void)
{
	struct passwd *pw = getpwuid(geteuid());

	return pw != NULL ? pw->pw_name : "(unknown)";
}

/* A file or directory the run user must reach; a directory that does not
 * exist yet must be creatable in its parent. */
static int
ferryd_path_reach(const char *path, int mode)
{
	char parent[PATH_MAX];
	char *slash;

	if (access(path, mode) == 0)
		return 0;
	if (errno != ENOENT || !(mode & W_OK) || strlen(path) >= sizeof(parent))
		return -1;
	snprintf(parent, sizeof(parent), "%s", path);
	slash = strrchr(parent, '/');
	if (slash == parent)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else
		snprintf(parent, sizeof(parent), ".");
	return access(parent, W_OK | X_OK);
}

/* Permission is a configuration error, so fatal; a missing directory may
 * yet appear (a mount; deliveries defer until then), so only said now. */
static void
ferryd_path_need(const char *what, const char *path, int mode)
{
	if (path == NULL || ferryd_path_reach(path, mode) == 0)
		return;
	if (errno == ENOENT)
		log_warn("event=config-warning reason=\"the %s %s does not exist\" "
		    "effect=\"used once it exists\"", what, path);
	else
		log_fatal("event=fatal reason=\"user %s cannot reach the %s %s: %s\" "
		    "hint=\"every directory above it must be searchable (x) by that user\"",
		    ferryd_user_name(), what, path, strerror(errno));
}

static void
ferryd_path_want(const char *what, const char *path, int mode)
{
	if (path != NULL && strcmp(path, "-") != 0 && ferryd_path_reach(path, mode) < 0)
		log_warn("event=config-warning reason=\"user %s cannot reach the %s %s: %s\" "
		    "effect=\"a reload (SIGHUP) keeps the old one\"", ferryd_user_name(), what, path,
		    strerror(errno));
}

struct ferryd_conf_job {
	const struct ferryd_spool *fs;
	struct conf *c;
	char err[1024];
};

/* On a thread of its own: only this thread's working directory becomes
 * the start directory (unshare(CLONE_FS)), the others' stays the spool. */
static void *
ferryd_conf_job_run(void *arg)
{
	struct ferryd_conf_job *j = arg;

	const char *path = j->fs->conf_path;

	/* else (the run user may not enter it) relative dkim_sign keys fail, named */
	if (j->fs->origin_fd >= 0 && unshare(CLONE_FS) == 0 && fchdir(j->fs->origin_fd) == 0)
		path = j->fs->conf_rel;
	j->c = conf_load(path, j->err, sizeof(j->err));
	if (j->c != NULL && conf_check(j->c, j->err, sizeof(j->err)) < 0) {
		conf_free(j->c);
		j->c = NULL;
	}
	return NULL;
}

struct conf *
ferryd_spool_conf_load(const struct ferryd_spool *fs, char *err, size_t errlen)
{
	struct ferryd_conf_job j = { .fs = fs };
	pthread_t t;

	if (pthread_create(&t, NULL, ferryd_conf_job_run, &j) != 0) {
		snprintf(err, errlen, "cannot start a thread to read the configuration");
		return NULL;
	}
	pthread_join(t, NULL);
	if (j.c == NULL)
		snprintf(err, errlen, "%s", j.err);
	else
		ferryd_spool_rebase(fs, j.c);
	return j.c;
}

/* A reload reads the configuration (and its dkim_sign keys) as the run
 * user: try it now rather than at the first SIGHUP. */
static void
ferryd_conf_reread(const struct ferryd_spool *fs)
{
	char err[1024];
	struct conf *c;

	if (fs->conf_path == NULL)
		return;
	if ((c = ferryd_spool_conf_load(fs, err, sizeof(err))) == NULL)
		log_warn("event=config-warning reason=\"user %s cannot read the configuration: %s\" "
		    "effect=\"a reload (SIGHUP) will fail\"", ferryd_user_name(), err);
	conf_free(c);
}

void
ferryd_spool_check(const struct ferryd_spool *fs, const struct conf *c, struct state *st, bool tls)
{
	char err[1024];

	if (state_check(st, err, sizeof(err)) < 0)
		log_fatal("event=fatal reason=\"user %s cannot use the state database: %s\"",
		    ferryd_user_name(), err);
	ferryd_path_need("users file", c->users_file, R_OK);
	ferryd_path_need("maildir root", c->maildir_root, W_OK | X_OK);
	ferryd_path_want("log file", c->log_file, W_OK);
	if (tls) {
		ferryd_path_want("TLS certificate", c->tls_cert, R_OK);
		ferryd_path_want("TLS key", c->tls_key, R_OK);
	}
	ferryd_conf_reread(fs);
}
