/*
 * spool.c - build message files in incoming/ and check the queue at start.
 * A message file is written with plain buffered writes; durability comes at
 * commit (spool_commit.c). Nothing in queue/ is ever deleted for failing to
 * parse: it goes to corrupt/ for a human to look at.
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
#include "util/xmalloc.h"

/* ferryd is still root here and the run user owns the spool: a link put
 * in place of a subdirectory is refused (O_NOFOLLOW, and the descriptor
 * must be a directory), and the owner is set on the descriptor, so root
 * never follows the run user's link to give away another directory. */
static int
spool_subdir_open(int root, const char *name, uid_t uid, gid_t gid)
{
	struct stat st;
	int fd;

	if (mkdirat(root, name, 0750) < 0 && errno != EEXIST)
		return -1;
	fd = openat(root, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		goto fail;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		goto fail;
	}
	if (uid != (uid_t)-1 && fchown(fd, uid, gid) < 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

/* The subdirectories, each opened as spool_subdir_open says; *sub names
 * the one that failed. */
static int
spool_subdirs_open(struct spool *s, uid_t uid, gid_t gid, const char **sub)
{
	struct { const char *name; int *fd; } dirs[] = {
		{ "incoming", &s->incoming_fd }, { "queue", &s->queue_fd },
		{ "corrupt", &s->corrupt_fd }, { "hold", &s->hold_fd }, { "free", &s->free_fd },
	};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		*dirs[i].fd = spool_subdir_open(s->root_fd, dirs[i].name, uid, gid);
		if (*dirs[i].fd < 0) {
			*sub = dirs[i].name;
			return -1;
		}
	}
	return 0;
}

struct spool *
spool_open(const char *dir, uid_t uid, gid_t gid, bool use_syncfs, char *err, size_t errlen)
{
	struct spool *s = xcalloc(1, sizeof(*s));
	const char *sub = NULL;

	s->root_fd = s->incoming_fd = s->queue_fd = s->corrupt_fd = s->hold_fd = s->free_fd = -1;
	s->use_syncfs = use_syncfs;
	/* 0751: others may traverse (to reach submit.sock), not list. */
	if (mkdir(dir, 0751) < 0 && errno != EEXIST)
		goto fail;
	s->root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root_fd < 0 || (uid != (uid_t)-1 && fchown(s->root_fd, uid, gid) < 0) ||
	    fchmod(s->root_fd, 0751) < 0)
		goto fail;
	if (spool_subdirs_open(s, uid, gid, &sub) < 0)
		goto fail;
	s->free_names = xcalloc(SPOOL_FREE_MAX, sizeof(*s->free_names));
	pthread_mutex_init(&s->free_lock, NULL);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->pending_tail = &s->pending;
	return s;
fail:
	if (sub == NULL)
		snprintf(err, errlen, "spool %s: %s", dir, strerror(errno));
	else if (errno == ELOOP || errno == ENOTDIR)
		snprintf(err, errlen, "spool %s/%s: not a directory (a link is refused): %s", dir, sub,
		    strerror(errno));
	else
		snprintf(err, errlen, "spool %s/%s: %s", dir, sub, strerror(errno));
	spool_close(s);
	return NULL;
}

void
spool_close(struct spool *s)
{
	if (s == NULL)
		return;
	if (s->running)
		spool_committer_stop(s);
	if (s->incoming_fd >= 0) close(s->incoming_fd);
	if (s->queue_fd >= 0) close(s->queue_fd);
	if (s->corrupt_fd >= 0) close(s->corrupt_fd);
	if (s->hold_fd >= 0) close(s->hold_fd);
	if (s->free_fd >= 0) close(s->free_fd);
	if (s->root_fd >= 0) close(s->root_fd);
	if (s->free_names != NULL)
		pthread_mutex_destroy(&s->free_lock);
	free(s->free_names);
	free(s);
}

/* Walk a spool file's records; 0 when it ends with a proper end record.
 * id gets the id record (the name the file was written under). */
static int
spool_file_check(int fd, char id[SPOOL_ID_LEN + 1], struct stat *st)
{
	unsigned char hdr[SPOOL_REC_HDR];
	off_t off = SPOOL_MAGIC_LEN;

	id[0] = '\0';
	if (spool_rec_magic_check(fd, st) < 0)
		return -1;
	if (pread(fd, hdr, SPOOL_REC_HDR, off) == SPOOL_REC_HDR && hdr[0] == SPOOL_REC_ID &&
	    spool_rec_hdr_len(hdr) == SPOOL_ID_LEN &&
	    pread(fd, id, SPOOL_ID_LEN, off + SPOOL_REC_HDR) == SPOOL_ID_LEN)
		id[SPOOL_ID_LEN] = '\0';
	else
		id[0] = '\0';
	while (off + SPOOL_REC_HDR <= st->st_size) {
		uint32_t len;
		if (pread(fd, hdr, SPOOL_REC_HDR, off) != SPOOL_REC_HDR)
			return -1;
		len = spool_rec_hdr_len(hdr);
		if (hdr[0] == SPOOL_REC_END)
			return (len == 0 && off + SPOOL_REC_HDR == st->st_size) ? 0 : -1;
		off += SPOOL_REC_HDR + (off_t)len;
	}
	return -1;
}

static void
spool_incoming_clean(struct spool *s)
{
	DIR *d = spool_dir_list(s->incoming_fd);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		/* Never acknowledged: the client was not told 250. */
		if (unlinkat(s->incoming_fd, e->d_name, 0) == 0)
			log_info("event=spool-discard id=%s reason=\"incomplete, never acknowledged\"", e->d_name);
	}
	closedir(d);
}

/* Check every file of queue/ or hold/: a good one counts (and its inode is
 * noted), a bad one, or a stale name of a reused file, goes to corrupt/. */
static long
spool_recover_dir(struct spool *s, int dirfd, ino_t **inos, size_t *ninos, size_t *cap)
{
	DIR *d = spool_dir_list(dirfd);
	struct dirent *e;
	long n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char id[SPOOL_ID_LEN + 1];
		struct stat st;
		int fd, ok;
		if (e->d_name[0] == '.')
			continue;
		fd = openat(dirfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		ok = fd >= 0 && spool_file_check(fd, id, &st) == 0;
		if (ok && strcmp(id, e->d_name) == 0) {
			n++;
			if (*ninos == *cap) {
				*cap = *cap ? *cap * 2 : 1024;
				*inos = xrealloc(*inos, *cap * sizeof(**inos));
			}
			(*inos)[(*ninos)++] = st.st_ino;
		} else {
			log_error("event=spool-corrupt id=%s reason=\"%s\" action=\"moved to corrupt/\"", e->d_name,
			    ok ? "written as another message (a reused file's old name)" : "incomplete or malformed");
			renameat(dirfd, e->d_name, s->corrupt_fd, e->d_name);
		}
		if (fd >= 0)
			close(fd);
	}
	closedir(d);
	return n;
}

long
spool_recover(struct spool *s)
{
	ino_t *inos = NULL;
	size_t ninos = 0, cap = 0;
	long n, held;

	spool_incoming_clean(s);
	n = spool_recover_dir(s, s->queue_fd, &inos, &ninos, &cap);
	held = spool_recover_dir(s, s->hold_fd, &inos, &ninos, &cap);
	fsync(s->queue_fd);
	fsync(s->hold_fd);
	fsync(s->corrupt_fd);
	spool_free_load(s, inos, ninos);
	free(inos);
	return n < 0 ? -1 : n + (held > 0 ? held : 0);
}

struct spool_msg *
spool_msg_create(struct spool *s, char id[SPOOL_ID_LEN + 1])
{
	struct spool_msg *m = xmalloc(sizeof(*m));
	int tries;

	memset(m, 0, offsetof(struct spool_msg, wbuf));
	m->spool = s;
	spool_id_new(m->id);
	m->fd = spool_free_take(s, m->id);
	m->reused = m->fd >= 0;
	for (tries = 0; tries < 100 && m->fd < 0; tries++) {
		if (tries > 0)
			spool_id_new(m->id);
		m->fd = openat(s->incoming_fd, m->id, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
		if (m->fd >= 0 || errno != EEXIST)
			break;
	}
	if (m->fd < 0) {
		int e = errno;
		free(m);
		errno = e;
		return NULL;
	}
	memcpy(id, m->id, SPOOL_ID_LEN + 1);
	memcpy(m->wbuf, SPOOL_MAGIC, SPOOL_MAGIC_LEN);
	m->wlen = SPOOL_MAGIC_LEN;
	spool_rec_str(m, SPOOL_REC_ID, m->id);
	return m;
}

int
spool_msg_flush(struct spool_msg *m)
{
	size_t done = 0;

	while (done < m->wlen && m->error == 0) {
		ssize_t n = pwrite(m->fd, m->wbuf + done, m->wlen - done, m->off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			m->error = n < 0 ? errno : EIO;
		else
			done += (size_t)n;
	}
	m->off += (off_t)m->wlen;
	m->wlen = 0;
	return m->error ? -1 : 0;
}

static int
spool_msg_append(struct spool_msg *m, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		size_t room = SPOOL_WBUF - m->wlen, n = len < room ? len : room;
		memcpy(m->wbuf + m->wlen, p, n);
		m->wlen += n;
		p += n;
		len -= n;
		if (m->wlen == SPOOL_WBUF && spool_msg_flush(m) < 0)
			return -1;
	}
	return m->error ? -1 : 0;
}

int
spool_rec_put(struct spool_msg *m, enum spool_rec type, const void *data, size_t len)
{
	unsigned char hdr[SPOOL_REC_HDR];

	if (m->in_content || len > UINT32_MAX)
		return -1;
	spool_rec_hdr_put(hdr, type, (uint32_t)len);
	if (spool_msg_append(m, hdr, SPOOL_REC_HDR) < 0)
		return -1;
	return spool_msg_append(m, data, len);
}

int
spool_msg_content_begin(struct spool_msg *m)
{
	unsigned char hdr[SPOOL_REC_HDR];

	spool_rec_hdr_put(hdr, SPOOL_REC_CONTENT, 0);   /* the length comes at commit */
	m->content_hdr_off = m->off + (off_t)m->wlen;
	m->in_content = true;
	return spool_msg_append(m, hdr, SPOOL_REC_HDR);
}

int
spool_msg_write(struct spool_msg *m, const void *buf, size_t len)
{
	if (m->content_size + len > UINT32_MAX) {
		m->error = EFBIG;
		return -1;
	}
	m->content_size += len;
	return spool_msg_append(m, buf, len);
}

int
spool_msg_hold(struct spool_msg *m, const char *reason)
{
	free(m->hold_reason);
	m->hold_reason = xstrdup(reason != NULL && reason[0] != '\0' ? reason : "held");
	return 0;
}

uint64_t
spool_msg_content_size(const struct spool_msg *m)
{
	return m->content_size;
}

long
spool_msg_content_read(struct spool_msg *m, uint64_t off, void *buf, size_t len)
{
	off_t at = m->content_hdr_off + SPOOL_REC_HDR + (off_t)off;
	ssize_t n;

	if (!m->in_content || off >= m->content_size)
		return 0;
	if (len > m->content_size - off)
		len = (size_t)(m->content_size - off);
	if (m->wlen > 0 && spool_msg_flush(m) < 0)
		return -1;
	do
		n = pread(m->fd, buf, len, at);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -1 : (long)n;
}

void
spool_msg_free(struct spool_msg *m)
{
	if (m->fd >= 0)
		close(m->fd);
	free(m->hold_reason);
	free(m);
}

void
spool_msg_abort(struct spool_msg *m)
{
	spool_free_recycle(m->spool, m->spool->incoming_fd, m->id);
	spool_msg_free(m);
}
