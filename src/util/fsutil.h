/*
 * fsutil.h - the file system steps of every durable write: write all of a
 * buffer, and fsync a directory so that a new or renamed entry in it
 * survives a crash (the file's own fsync does not cover its name).
 */
#ifndef FERRY_UTIL_FSUTIL_H
#define FERRY_UTIL_FSUTIL_H

#include <stddef.h>

/* Write all len octets, retrying short writes and EINTR. 0, or -1 + errno
 * (EIO when the file takes nothing). */
int fsutil_write_all(int fd, const void *buf, size_t len);

/* fsync the directory at path. 0, or -1 + errno. */
int fsutil_dir_sync(const char *path);

#endif
