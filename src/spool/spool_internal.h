/* spool_internal.h - what spool.c and spool_commit.c share; not for others. */
#ifndef FERRY_SPOOL_INTERNAL_H
#define FERRY_SPOOL_INTERNAL_H

#include <pthread.h>

#include "spool/spool.h"

#define SPOOL_WBUF 65536
#define SPOOL_FREE_MAX 4096   /* finished files kept for reuse */

struct spool {
	int  root_fd, incoming_fd, queue_fd, corrupt_fd, hold_fd, free_fd;
	bool use_syncfs;

	pthread_mutex_t free_lock;         /* guards the pool of reusable files */
	char            (*free_names)[SPOOL_ID_LEN + 1];
	size_t          nfree;

	pthread_t       thread;
	bool            running, stopping;
	pthread_mutex_t lock;
	pthread_cond_t  cond;
	struct spool_msg *pending, **pending_tail;
};

struct spool_msg {
	struct spool    *spool;
	int              fd;
	char             id[SPOOL_ID_LEN + 1];
	off_t            off;              /* file offset of wbuf[0] */
	size_t           wlen;
	off_t            content_hdr_off;  /* the content record's header, for its length */
	uint64_t         content_size;
	bool             in_content;
	bool             reused;           /* a recycled file: truncate at finish */
	char            *hold_reason;      /* commit into hold/ with this reason (spool_msg_hold) */
	int              error;            /* first write error (errno) */
	spool_commit_cb  cb;
	void            *cb_arg;
	struct spool_msg *next;
	char             wbuf[SPOOL_WBUF];
};

int  spool_msg_flush(struct spool_msg *m);
void spool_msg_free(struct spool_msg *m);

/* spool_free.c: the pool of finished files kept for reuse. */
int  spool_free_take(struct spool *s, const char *id);
int  spool_free_recycle(struct spool *s, int dirfd, const char *id);
void spool_free_load(struct spool *s, ino_t *queued, size_t nqueued);

#endif
