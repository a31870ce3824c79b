/*
 * log.h - one line per event, machine-parseable (logfmt: key=value pairs).
 * Lines go to stderr by default or to a file (log_file); each starts with an
 * RFC 3339 UTC timestamp, the program name and a level. For log shippers
 * the same line can be written as one JSON object (log_format json) and
 * also sent to syslog(3) (log_syslog yes).
 * SECURITY: values that come from the network are quoted and escaped with
 * log_quote() so a peer cannot forge log lines (no raw CR/LF ever logged).
 */
#ifndef FERRY_UTIL_LOG_H
#define FERRY_UTIL_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Set the program name and the destination: NULL or "-" for stderr. Returns
 * 0 or -1 (errno set) when the file cannot be opened. Safe to call again to
 * reopen after rotation (SIGHUP) while other threads log: the descriptor
 * they write to is replaced in one step, never closed under them. */
int  log_open(const char *prog, const char *path);
/* Give the open log file (not stderr) to uid:gid, by its descriptor, so
 * a link put at its path meanwhile is never followed. */
int  log_chown(uid_t uid, gid_t gid);
void log_set_level(enum log_level lvl);

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };
/* json: {"time":..,"prog":..,"pid":..,"level":..,KEY:VALUE...} per line,
 * every value a string (quoted values unescaped, then JSON-escaped; octets
 * that are not UTF-8 become \xHH text). A value is read as quoted only
 * when its closing quote is followed by a space or the end of the line,
 * else literally up to the next space. A key seen before (or one of time,
 * prog, pid, level) is never replaced: the later value goes under KEY_2,
 * KEY_3 ... KEY_9, beyond that it is dropped. Words that are no key=value
 * pair are joined, separated by one space, into one "msg" member. */
void log_set_format(enum log_format fmt);
/* Also send each line to syslog(3), facility mail, with the level's
 * priority (the destination set by log_open keeps its copy). */
void log_set_syslog(bool on);

/* The JSON form of one logfmt line's pairs ("key=value key2=\"v\"...")
 * with the fields before them; a malloc'd string without newline, or NULL
 * (out of memory). For log_vwrite and its tests. */
char *log_json_format(const char *time, const char *prog, long pid, const char *level,
    const char *pairs, size_t len);

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
