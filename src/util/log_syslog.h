/*
 * log_syslog.h - log.c's path to syslog(3), kept apart because <syslog.h>
 * defines LOG_DEBUG, LOG_INFO... as macros that clash with log.h's levels.
 */
#ifndef FERRY_UTIL_LOG_SYSLOG_H
#define FERRY_UTIL_LOG_SYSLOG_H

#include <stddef.h>

/* ident must stay valid (openlog keeps the pointer). Connects at once, so
 * before a privilege drop or chroot. */
void log_syslog_open(const char *ident);
/* level: 0 debug, 1 info, 2 warn, 3 error (enum log_level). */
void log_syslog_send(int level, const char *msg, size_t len);

#endif
