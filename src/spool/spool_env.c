/*
 * spool_env.c - read a queued message's envelope and recipient states back
 * (format in spool_rec.h), mark recipients done in place, and move or remove
 * queue files. Every record is length-checked against the file size; a
 * file that does not end with its end record is refused, never guessed at.
 */
#include "spool/spool_env.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool/spool_internal.h"
#include "util/xmalloc.h"

#define SPOOL_FIELD_MAX 4096   /* longest envelope field we accept */
#define SPOOL_RBUF      16384  /* one read covers a typical envelope */

/* A window of the file, so parsing an envelope costs one or two reads
 * instead of two per record. */
struct spool_reader {
	int    fd;
	off_t  off;             /* file offset of buf[0] */
	size_t len;             /* valid octets in buf */
	char   buf[SPOOL_RBUF];
};

/* len octets at off, from the window when they are in it. */
static int
spool_reader_get(struct spool_reader *r, void *dst, size_t len, off_t off)
{
	ssize_t n;

	if (off >= r->off && off + (off_t)len <= r->off + (off_t)r->len) {
		memcpy(dst, r->buf + (off - r->off), len);
		return 0;
	}
	if (len > sizeof(r->buf))
		return pread(r->fd, dst, len, off) == (ssize_t)len ? 0 : -1;
	n = pread(r->fd, r->buf, sizeof(r->buf), off);
	r->off = off;
	r->len = n > 0 ? (size_t)n : 0;
	if (r->len < len)
		return -1;
	memcpy(dst, r->buf, len);
	return 0;
}

static char *
spool_field_read(struct spool_reader *rd, off_t off, uint32_t len)
{
	char *s;

	if (len > SPOOL_FIELD_MAX)
		return NULL;
	s = xmalloc(len + 1);
	if (spool_reader_get(rd, s, len, off) < 0) {
		free(s);
		return NULL;
	}
	s[len] = '\0';
	return s;
}

static void
spool_env_rcpt_add(struct spool_env *env, char *addr, char state, off_t off)
{
	struct spool_rcpt *r;

	env->rcpts = xrealloc(env->rcpts, (env->nrcpts + 1) * sizeof(*env->rcpts));
	r = &env->rcpts[env->nrcpts++];
	memset(r, 0, sizeof(*r));
	r->addr = addr;
	r->state = state;
	r->state_off = off;
}

static int
spool_env_int(const char *s, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return (errno != 0 || *end != '\0' || end == s) ? -1 : 0;
}

/* Apply one small record; returns -1 when it is malformed. */
static int
spool_env_apply(struct spool_env *env, enum spool_rec type, char *v, off_t off)
{
	long long n;

	switch (type) {
	case SPOOL_REC_RCPT: case SPOOL_REC_DELIVERED: case SPOOL_REC_FAILED:
		spool_env_rcpt_add(env, v, (char)type, off);
		return 0;
	case SPOOL_REC_NOTIFY:
		if (env->nrcpts == 0 || spool_env_int(v, &n) < 0)
			break;
		env->rcpts[env->nrcpts - 1].notify = (unsigned)n;
		free(v);
		return 0;
	case SPOOL_REC_ORCPT:
		if (env->nrcpts == 0)
			break;
		env->rcpts[env->nrcpts - 1].orcpt = v;
		return 0;
	case SPOOL_REC_TIME:
		if (spool_env_int(v, &n) < 0)
			break;
		env->arrival = (time_t)n;
		free(v);
		return 0;
	case SPOOL_REC_ID: snprintf(env->id, sizeof(env->id), "%s", v); free(v); return 0;
	case SPOOL_REC_SENDER: env->sender = v; return 0;
	case SPOOL_REC_ENVID: env->envid = v; return 0;
	case SPOOL_REC_AUTH: env->auth = v; return 0;
	case SPOOL_REC_CLIENT: env->client_addr = v; return 0;
	case SPOOL_REC_HELO: env->helo = v; return 0;
	case SPOOL_REC_RET: env->ret = smtp_ret_from_name(v); free(v); return 0;
	case SPOOL_REC_BODY: env->body = smtp_body_from_name(v); free(v); return 0;
	case SPOOL_REC_SMTPUTF8: env->smtputf8 = true; free(v); return 0;
	case SPOOL_REC_SOURCE: env->source = v; return 0;
	case SPOOL_REC_POOL: env->pool = v; return 0;
	case SPOOL_REC_HOLD: free(env->hold_reason); env->hold_reason = v; return 0;
	case SPOOL_REC_TENANT:
		if (spool_env_int(v, &n) < 0 || n <= 0)
			break;
		env->tenant_id = n;
		free(v);
		return 0;
	case SPOOL_REC_WARN_DUE: env->warn_off = off; free(v); return 0;
	case SPOOL_REC_WARN_SENT: env->warned = true; free(v); return 0;
	case SPOOL_REC_DSN:
		env->dsn_kind = v[0] == '2' ? SPOOL_DSN_DOUBLE : SPOOL_DSN_BOUNCE;
		free(v);
		return 0;
	default:
		free(v);   /* records this version does not use are skipped */
		return 0;
	}
	free(v);
	return -1;
}

int
spool_env_parse(int fd, struct spool_env *env)
{
	unsigned char hdr[SPOOL_REC_HDR];
	struct stat st;
	off_t off = SPOOL_MAGIC_LEN;
	struct spool_reader *rd;

	memset(env, 0, sizeof(*env));
	if (spool_rec_magic_check(fd, &st) < 0)
		return -1;
	env->file_size = st.st_size;
	rd = xmalloc(sizeof(*rd));
	rd->fd = fd;
	rd->off = 0;
	rd->len = 0;
	while (off + SPOOL_REC_HDR <= st.st_size && spool_reader_get(rd, hdr, SPOOL_REC_HDR, off) == 0) {
		uint32_t len = spool_rec_hdr_len(hdr);
		off_t data = off + SPOOL_REC_HDR;
		char *v;
		if (data + (off_t)len > st.st_size)
			break;
		if (hdr[0] == SPOOL_REC_END) {
			free(rd);
			if (len == 0 && data == st.st_size && env->sender != NULL)
				return 0;
			spool_env_free(env);
			return -1;
		}
		if (hdr[0] == SPOOL_REC_CONTENT) {
			env->content_off = data;
			env->content_len = len;
		} else if ((v = spool_field_read(rd, data, len)) == NULL ||
		    spool_env_apply(env, (enum spool_rec)hdr[0], v, off) < 0)
			break;
		off = data + (off_t)len;
	}
	free(rd);
	spool_env_free(env);
	return -1;
}

void
spool_env_free(struct spool_env *env)
{
	for (size_t i = 0; i < env->nrcpts; i++) {
		free(env->rcpts[i].addr);
		free(env->rcpts[i].orcpt);
	}
	free(env->rcpts);
	free(env->sender);
	free(env->envid);
	free(env->auth);
	free(env->client_addr);
	free(env->helo);
	free(env->source);
	free(env->pool);
	free(env->hold_reason);
	memset(env, 0, sizeof(*env));
}

int
spool_queue_dirfd(struct spool *s, bool held)
{
	return held ? s->hold_fd : s->queue_fd;
}

DIR *
spool_dir_list(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (d == NULL && fd >= 0)
		close(fd);
	return d;
}

int
spool_queue_open(struct spool *s, const char *id, bool held)
{
	return openat(spool_queue_dirfd(s, held), id, O_RDWR | O_CLOEXEC);
}

int
spool_rcpt_mark(int fd, const struct spool_rcpt *r, char state)
{
	return pwrite(fd, &state, 1, r->state_off) == 1 ? 0 : -1;
}

int
spool_warn_mark(int fd, const struct spool_env *env)
{
	char sent = SPOOL_REC_WARN_SENT;

	return pwrite(fd, &sent, 1, env->warn_off) == 1 ? 0 : -1;
}

int
spool_queue_remove(struct spool *s, const char *id, bool held)
{
	return spool_free_recycle(s, spool_queue_dirfd(s, held), id);
}

int
spool_queue_hold(struct spool *s, const char *id, bool hold)
{
	int from = spool_queue_dirfd(s, !hold), to = spool_queue_dirfd(s, hold);

	if (renameat2(from, id, to, id, RENAME_NOREPLACE) < 0)
		return -1;
	if (fsync(to) < 0 || fsync(from) < 0)
		return -1;
	return 0;
}

int
spool_queue_stamp(struct spool *s, const char *id, bool held, time_t t)
{
	struct timespec ts[2] = { { t, 0 }, { t, 0 } };

	return utimensat(spool_queue_dirfd(s, held), id, ts, 0);
}

int
spool_queue_touch(int fd, time_t next_try)
{
	struct timespec ts[2] = { { next_try, 0 }, { next_try, 0 } };

	return futimens(fd, ts);
}
