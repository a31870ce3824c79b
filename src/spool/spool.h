/*
 * spool.h - the on-disk queue: one file per message, built in incoming/ and
 * committed into queue/ only once it and its directory entry are on stable
 * storage. Commits from all sessions are batched by one committer thread
 * (group commit): one filesystem flush and one directory fsync per batch.
 *
 * File format (version 1), all integers big-endian:
 *   "FERRY1\n"                          magic
 *   record*                             type (1 octet), length (4), data
 *   'X' record of length 0              end: a file without it is incomplete
 * Records: 'I' queue id, 't' arrival (unix seconds, decimal), 'S' sender
 * ("" for <>), 'R' recipient, 'N' NOTIFY flags of the preceding 'R'
 * (decimal), 'O' ORCPT of the preceding 'R' (as received), 'E' ENVID
 * (decoded), 'T' RET (FULL|HDRS), 'B' body (7BIT|8BITMIME|BINARYMIME),
 * 'U' SMTPUTF8 ("1"), 'A' auth identity, 'c' client address, 'h' client
 * HELO, 'n' client name, 'L' TLS "protocol cipher", 'P' protocol (RFC 3848
 * "with" keyword), 'l' listener role, 'o' outbound source address of the listener, 'G' tenant id (decimal, the
 * relay-service tenant the message was sent as), 'Y' the IP pool it leaves from (a
 * connector's own, else its tenant's, at receipt), 'W' (empty) a delay warning is due / 'w' it was sent (the type octet is changed in place), 'M' message content (CRLF lines,
 * Received: header first).
 * SECURITY: every path is opened relative to directory descriptors taken at
 * start (as root) so the daemon keeps working after it drops privileges.
 */
#ifndef FERRY_SPOOL_SPOOL_H
#define FERRY_SPOOL_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SPOOL_ID_LEN 16
#define SPOOL_MAGIC  "FERRY1\n"

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
/* Envelope record (before any content). */
int spool_msg_record(struct spool_msg *m, char type, const void *data, size_t len);
int spool_msg_record_str(struct spool_msg *m, char type, const char *s);
/* Start the content record, then append content with spool_msg_write. */
int spool_msg_content_begin(struct spool_msg *m);
int spool_msg_write(struct spool_msg *m, const void *buf, size_t len);
uint64_t spool_msg_content_size(const struct spool_msg *m);
/* Give up: close and unlink. */
void spool_msg_abort(struct spool_msg *m);

/* Finish the file and hand it to the committer. cb runs on the committer
 * thread with error 0 once the message is durable in queue/, or an errno
 * (the file is then removed). m is freed by the spool either way. */
typedef void (*spool_commit_cb)(void *arg, int error);
void spool_msg_commit(struct spool_msg *m, spool_commit_cb cb, void *arg);

/* Octets the spool's filesystem still has for ferryd, or -1 with errno;
 * safe from any thread. A figure up to 10 ms old is returned only while it
 * is at least fresh_below. spool_space.c. */
long long spool_space_available(const struct spool *s, long long fresh_below);

/* A fresh queue id: 16 uppercase hex digits, microseconds then a counter,
 * so ids sort by arrival. */
void spool_id_new(char id[SPOOL_ID_LEN + 1]);

#endif
