/*
 * spool_free.c - a pool of finished spool files kept for reuse. Creating
 * a file costs an inode allocation and deleting one frees its blocks (a
 * synchronous discard on some file systems); a message that is done is
 * instead renamed into free/, and a new message takes such a file over
 * (rename into incoming/, overwrite, truncate to its new size at commit).
 * SECURITY/DURABILITY: after a power loss a directory may still show an
 * old name of a file that was reused. Recovery therefore never unlinks
 * what it cannot prove unique: a queue file whose 'I' record does not
 * match its name goes to corrupt/ (spool.c), and a free/ entry whose inode
 * is also a queued message is left alone. kill -9 cannot cause either.
 */
#include "spool/spool_internal.h"
#include "spool/spool_env.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

/* Take a file name from the pool into name; false when it is empty. */
static bool
spool_free_pop(struct spool *s, char name[SPOOL_ID_LEN + 1])
{
	bool ok = false;

	pthread_mutex_lock(&s->free_lock);
	if (s->nfree > 0) {
		memcpy(name, s->free_names[--s->nfree], SPOOL_ID_LEN + 1);
		ok = true;
	}
	pthread_mutex_unlock(&s->free_lock);
	return ok;
}

/* Put name back (false when the pool is full: the caller unlinks). */
static bool
spool_free_push(struct spool *s, const char *name)
{
	bool ok = false;

	pthread_mutex_lock(&s->free_lock);
	if (s->nfree < SPOOL_FREE_MAX) {
		snprintf(s->free_names[s->nfree++], SPOOL_ID_LEN + 1, "%s", name);
		ok = true;
	}
	pthread_mutex_unlock(&s->free_lock);
	return ok;
}

/* A reused file as incoming/id, open for writing; -1 when the pool has none. */
int
spool_free_take(struct spool *s, const char *id)
{
	char name[SPOOL_ID_LEN + 1];

	while (spool_free_pop(s, name)) {
		if (renameat2(s->free_fd, name, s->incoming_fd, id, RENAME_NOREPLACE) < 0)
			continue;
		int fd = openat(s->incoming_fd, id, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			return fd;
		unlinkat(s->incoming_fd, id, 0);
	}
	return -1;
}

/* A finished file leaves dir: into the pool, or unlinked when it is full. */
int
spool_free_recycle(struct spool *s, int dirfd, const char *id)
{
	if (strlen(id) == SPOOL_ID_LEN && spool_free_push(s, id)) {
		if (renameat2(dirfd, id, s->free_fd, id, RENAME_NOREPLACE) == 0)
			return 0;
		pthread_mutex_lock(&s->free_lock);   /* take the name back out */
		for (size_t i = 0; i < s->nfree; i++)
			if (strcmp(s->free_names[i], id) == 0) {
				memcpy(s->free_names[i], s->free_names[--s->nfree], SPOOL_ID_LEN + 1);
				break;
			}
		pthread_mutex_unlock(&s->free_lock);
	}
	return unlinkat(dirfd, id, 0);
}

static int
spool_ino_cmp(const void *a, const void *b)
{
	ino_t x = *(const ino_t *)a, y = *(const ino_t *)b;

	return x < y ? -1 : x > y;
}

/* At start: free/ entries become the pool, except one that shares its inode
 * with a queued message (a stale name from before a power loss). */
void
spool_free_load(struct spool *s, ino_t *queued, size_t nqueued)
{
	DIR *d = spool_dir_list(s->free_fd);
	struct dirent *e;
	struct stat st;
	ino_t *seen = calloc(SPOOL_FREE_MAX, sizeof(*seen));
	size_t nseen = 0;

	if (d == NULL || seen == NULL) {
		if (d != NULL)
			closedir(d);
		free(seen);
		return;
	}
	if (nqueued > 0)
		qsort(queued, nqueued, sizeof(*queued), spool_ino_cmp);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || strlen(e->d_name) != SPOOL_ID_LEN ||
		    fstatat(s->free_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (nqueued > 0 && bsearch(&st.st_ino, queued, nqueued, sizeof(*queued), spool_ino_cmp) != NULL) {
			log_error("event=spool-stale name=free/%s reason=\"shares its file with a queued message; left alone\"",
			    e->d_name);
			continue;
		}
		bool dup = false;    /* two names of one file: use it once */
		for (size_t i = 0; i < nseen && !dup; i++)
			dup = seen[i] == st.st_ino;
		if (dup || nseen == SPOOL_FREE_MAX || !spool_free_push(s, e->d_name))
			continue;
		seen[nseen++] = st.st_ino;
	}
	closedir(d);
	free(seen);
}
