/*
 * log.h - one line per event, machine-parseable (logfmt: key=value pairs).
 * Lines go to stderr by default or to a file (log_file); each starts with an
 * RFC 3339 UTC timestamp, the program name and a level.
 * SECURITY: values that come from the network are quoted and escaped with
 * log_quote() so a peer cannot forge log lines (no raw CR/LF ever logged).
 */
#ifndef FERRY_UTIL_LOG_H
#define FERRY_UTIL_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Set the program name and the destination: NULL or "-" for stderr. Returns
 * 0 or -1 (errno set) when the file cannot be opened. Safe to call again to
 * reopen after rotation (SIGHUP). */
int  log_open(const char *prog, const char *path);
void log_set_level(enum log_level lvl);

void log_msg(enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* The environment failed: log and exit(1). */
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Quote untrusted text for a log value: wraps in "", escapes \ and ",
 * replaces control and non-UTF-8-safe octets by \xHH, truncates to fit.
 * Returns out. */
const char *log_quote(char *out, size_t outsz, const char *in, size_t len);

#endif
