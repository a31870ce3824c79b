/*
 * ferryd_spool.h - ferryd's hold on its spool directory: one instance per
 * spool (a flock on the directory), the spool as working directory, and every
 * path under it named relative to it, so nothing ferryd opens after
 * dropping root needs search permission on the spool's parents.
 */
#ifndef FERRY_FERRYD_SPOOL_H
#define FERRY_FERRYD_SPOOL_H

#include <stdbool.h>
#include <sys/types.h>

struct conf;
struct state;

struct ferryd_spool {
	char *origin;      /* absolute working directory at start */
	char *spool;       /* absolute spool directory, as written (made absolute) */
	char *spool_real;  /* the same with symbolic links resolved */
	char *conf_path;   /* the configuration file as a reload names it, or NULL */
	int   origin_fd;   /* origin, opened as root (-1 if it cannot be) */
	char *conf_rel;    /* conf_path relative to origin when under it, else conf_path */
	int   lock_fd;     /* the spool directory, flock'd for the life of the process */
};

/* As root, after the spool exists: lock it (a second instance prints
 * "ferryd: already running (pid N) on SPOOL" and exits 1) and change into
 * it; conf_path (NULL: embedded) is kept as a reload must name it. Exits
 * on failure. */
void ferryd_spool_enter(struct ferryd_spool *fs, const char *spool_dir, const char *conf_path);
/* At exit: free, and release the lock. */
void ferryd_spool_leave(struct ferryd_spool *fs);

/* Rewrite c's paths as ferryd will open them from the spool: relative
 * under the spool, absolute elsewhere. For the start-up and every reloaded
 * configuration alike. */
void ferryd_spool_rebase(const struct ferryd_spool *fs, struct conf *c);

/* Load and check the configuration again (SIGHUP) with relative paths
 * relative to the start directory, as at start, and rebase it. NULL with
 * the reason ("FILE:LINE: ...") in err. */
struct conf *ferryd_spool_conf_load(const struct ferryd_spool *fs, char *err, size_t errlen);

/* As the run user, after the drop: what every session or delivery reads
 * must be reachable (else exit with the path and the reason); what only a
 * reload reads gets a warning. */
void ferryd_spool_check(const struct ferryd_spool *fs, const struct conf *c, struct state *st,
    bool tls);

#endif
