/*
 * spool.h - the on-disk queue: one file per message, built in incoming/ and
 * committed into queue/ only once it and its directory entry are on stable
 * storage. Commits from all sessions are batched by one committer thread
 * (group commit): one filesystem flush and one directory fsync per batch.
 * The file format and the record writers are in spool_rec.h.
 * SECURITY: every path is opened relative to directory descriptors taken at
 * start (as root) so the daemon keeps working after it drops privileges.
 */
#ifndef FERRY_SPOOL_SPOOL_H
#define FERRY_SPOOL_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "spool/spool_rec.h"

#define SPOOL_ID_LEN 16

struct spool;
struct spool_msg;

/* Open (creating as needed) dir and its incoming/, queue/, corrupt/
 * subdirectories; chown them to uid:gid when uid != (uid_t)-1. */
struct spool *spool_open(const char *dir, uid_t uid, gid_t gid, bool use_syncfs,
    char *err, size_t errlen);
void spool_close(struct spool *s);

/* Remove never-acknowledged files from incoming/, check every file in
 * queue/, move unreadable ones to corrupt/. Returns messages in queue/. */
long spool_recover(struct spool *s);

/* Start the committer thread. */
int spool_committer_start(struct spool *s);
/* Stop it after committing what is pending. */
void spool_committer_stop(struct spool *s);

/* A new message in incoming/. id receives the queue id. NULL + errno. */
struct spool_msg *spool_msg_create(struct spool *s, char id[SPOOL_ID_LEN + 1]);
/* Envelope records first (spool_rec.h), then start the content record and
 * append content with spool_msg_write. */
int spool_msg_content_begin(struct spool_msg *m);
int spool_msg_write(struct spool_msg *m, const void *buf, size_t len);
uint64_t spool_msg_content_size(const struct spool_msg *m);
/* Read back content already written (for the milter client): up to len
 * octets at content offset off; the count (0 at the end), or -1. Flushes
 * the write buffer first. */
long spool_msg_content_read(struct spool_msg *m, uint64_t off, void *buf, size_t len);
/* Give up: close and unlink. */
void spool_msg_abort(struct spool_msg *m);

/* Commit m into hold/ instead of queue/: it waits there for `ferryctl
 * queue release` (quarantine, a tenant under review). The reason goes into
 * a record after the content (SPOOL_REC_HOLD), shown by `queue list --held`
 * and `queue show`. Call before spool_msg_commit. 0 or -1. */
int spool_msg_hold(struct spool_msg *m, const char *reason);

/* Finish the file and hand it to the committer. cb runs on the committer
 * thread with error 0 once the message is durable in queue/ (hold/), or an errno
 * (the file is then removed). m is freed by the spool either way. */
typedef void (*spool_commit_cb)(void *arg, int error);
void spool_msg_commit(struct spool_msg *m, spool_commit_cb cb, void *arg);
/* The same, waiting on the caller's thread (one that may block: delivery's
 * notifications, an HTTP API handler): 0 once durable, else an errno. */
int spool_msg_commit_wait(struct spool_msg *m);

/* Octets the spool's filesystem still has for ferryd, or -1 with errno;
 * safe from any thread. A figure up to 10 ms old is returned only while it
 * is at least fresh_below. spool_space.c. */
long long spool_space_available(const struct spool *s, long long fresh_below);

/* A fresh queue id: 16 uppercase hex digits, microseconds then a counter,
 * so ids sort by arrival. */
void spool_id_new(char id[SPOOL_ID_LEN + 1]);

#endif
