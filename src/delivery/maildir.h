/*
 * maildir.h - local delivery into a Maildir (tmp -> fsync -> new, unique
 * names), as Dovecot and Courier read it.
 * SECURITY: the path comes from ferry's configuration, never from the
 * message; the local part is mapped to a directory name that cannot
 * contain '/' or start with '.'. A full disk, a missing parent folder or any
 * I/O error is a temporary failure: the message stays queued.
 */
#ifndef FERRY_DELIVERY_MAILDIR_H
#define FERRY_DELIVERY_MAILDIR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Deliver content (CRLF lines, as spooled) to maildir, which is created
 * (with tmp/, new/, cur/) if its parent exists. Prepends "Return-Path:
 * <sender>" and "Delivered-To: <rcpt>" headers and stores LF line ends, as
 * Maildir readers expect. Returns 0, or -1 with err set (always temporary). */
int maildir_deliver(const char *maildir, int content_fd, off_t off, uint64_t len,
    const char *sender, const char *rcpt, char *err, size_t errlen);

/* The Maildir for an address under root: ROOT/DOMAIN/LOCALPART/ with the
 * local part lowercased and '/', '\0' and a leading '.' escaped. Returns 0
 * or -1 if it does not fit. */
int maildir_path(const char *root, const char *addr, char *out, size_t outsz);

#endif
