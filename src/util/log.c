/*
 * log.c - logfmt event lines to stderr or a file, one write(2) per line so
 * lines from several worker threads never interleave; the same pairs as
 * JSON objects (RFC 8259, one per line, written by jansson) for log
 * shippers; a copy to syslog.
 */
#include "util/log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "util/log_syslog.h"

static const char *log_prog = "ferry";
static int log_fd = 2;
static enum log_level log_min = LOG_INFO;
/* set by the main thread at start and on reload, read by every thread */
static atomic_int log_format = LOG_FORMAT_TEXT;
static atomic_bool log_syslog;

int
log_open(const char *prog, const char *path)
{
	int fd;

	if (prog != NULL)
		log_prog = prog;
	if (path == NULL || strcmp(path, "-") == 0) {
		log_fd = 2;
		return 0;
	}
	/* opened as root at start, often in a directory the run user owns:
	 * a link there is refused (ELOOP), never followed */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	if (log_fd > 2)
		close(log_fd);
	log_fd = fd;
	return 0;
}

int
log_chown(uid_t uid, gid_t gid)
{
	if (log_fd <= 2)
		return 0;
	return fchown(log_fd, uid, gid);
}

void
log_set_level(enum log_level lvl)
{
	log_min = lvl;
}

static const char *
log_level_name(enum log_level lvl)
{
	switch (lvl) {
	case LOG_DEBUG: return "debug";
	case LOG_INFO:  return "info";
	case LOG_WARN:  return "warn";
	default:        return "error";
	}
}

void
log_set_format(enum log_format fmt)
{
	atomic_store(&log_format, fmt);
}

void
log_set_syslog(bool on)
{
	if (on && !atomic_load(&log_syslog))
		log_syslog_open(log_prog);
	atomic_store(&log_syslog, on);
}

/* A JSON string for a value: as is when it is UTF-8, else with every
 * non-ASCII octet written as the text \xHH (log_quote's notation). */
static json_t *
log_json_string(const char *v, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char buf[4 * 4096];
	size_t o = 0;
	json_t *j = json_stringn(v, len);

	if (j != NULL)
		return j;
	for (size_t i = 0; i < len && o + 4 < sizeof(buf); i++) {
		unsigned char c = (unsigned char)v[i];
		if (c < 0x80) {
			buf[o++] = (char)c;
			continue;
		}
		buf[o++] = '\\';
		buf[o++] = 'x';
		buf[o++] = hex[c >> 4];
		buf[o++] = hex[c & 15];
	}
	return json_stringn(buf, o);
}

/* One value at *pp (bare up to a space, or "quoted" with log_quote's
 * escapes undone) into out; returns its length and advances *pp. */
static size_t
log_value_read(const char **pp, const char *end, char *out)
{
	const char *p = *pp;
	size_t n = 0;

	if (p == end || *p != '"') {
		while (p < end && *p != ' ')
			out[n++] = *p++;
		*pp = p;
		return n;
	}
	for (p++; p < end && *p != '"'; p++) {
		if (*p == '\\' && p + 1 < end && (p[1] == '"' || p[1] == '\\')) {
			out[n++] = *++p;
		} else if (*p == '\\' && p + 3 < end && p[1] == 'x' && isxdigit((unsigned char)p[2]) &&
		    isxdigit((unsigned char)p[3])) {
			char h[3] = { p[2], p[3], '\0' };
			out[n++] = (char)strtol(h, NULL, 16);
			p += 3;
		} else {
			out[n++] = *p;
		}
	}
	*pp = p < end ? p + 1 : p;
	return n;
}

char *
log_json_format(const char *time, const char *prog, long pid, const char *level,
    const char *pairs, size_t len)
{
	const char *p = pairs, *end = pairs + len;
	char key[64], val[4096];
	json_t *o = json_object();
	char *s;

	if (o == NULL)
		return NULL;
	if (len >= sizeof(val))
		end = pairs + sizeof(val) - 1;    /* a value never outgrows val */
	json_object_set_new(o, "time", json_string(time));
	json_object_set_new(o, "prog", json_string(prog));
	json_object_set_new(o, "pid", json_integer(pid));
	json_object_set_new(o, "level", json_string(level));
	while (p < end) {
		size_t klen = strcspn(p, "= ");
		if (*p == ' ') {
			p++;
			continue;
		}
		if (klen > (size_t)(end - p))
			klen = (size_t)(end - p);
		/* a word without '=' (none today) is kept whole under "msg" */
		if (klen >= sizeof(key) || p + klen == end || p[klen] != '=')
			snprintf(key, sizeof(key), "msg");
		else {
			memcpy(key, p, klen);
			key[klen] = '\0';
			p += klen + 1;
		}
		size_t vlen = log_value_read(&p, end, val);
		json_object_set_new(o, key, log_json_string(val, vlen));
	}
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

/* The JSON line, written with one write(2) like the text one (and the
 * same object to syslog). */
static void
log_json_write(const char *stamp, enum log_level lvl, const char *pairs, size_t len)
{
	char *s = log_json_format(stamp, log_prog, (long)getpid(), log_level_name(lvl), pairs, len);
	size_t n;

	if (s == NULL)
		return;
	n = strlen(s);
	if (atomic_load(&log_syslog))
		log_syslog_send(lvl, s, n);
	s[n] = '\n';      /* over the NUL: written with its length, never as a string */
	if (write(log_fd, s, n + 1) < 0) {
		/* nowhere left to report it */
	}
	free(s);
}

static void
log_vwrite(enum log_level lvl, const char *fmt, va_list ap)
{
	char line[4096], stamp[96];
	struct timeval tv;
	struct tm tm;
	int n, m, pairs;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, (long)(tv.tv_usec / 1000));
	n = snprintf(line, sizeof(line), "%s %s[%d]: ", stamp, log_prog, (int)getpid());
	pairs = n;
	n += snprintf(line + n, sizeof(line) - n, "level=%s ", log_level_name(lvl));
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	if ((size_t)(n + m) > sizeof(line) - 2)
		m = sizeof(line) - 2 - n;
	line[n + m] = '\n';
	if (atomic_load(&log_format) == LOG_FORMAT_JSON) {
		log_json_write(stamp, lvl, line + n, m);
		return;
	}
	if (atomic_load(&log_syslog))
		log_syslog_send(lvl, line + pairs, n + m - pairs);
	/* A single write keeps lines whole across threads (O_APPEND). */
	if (write(log_fd, line, n + m + 1) < 0) {
		/* nowhere left to report it */
	}
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (lvl < log_min)
		return;
	va_start(ap, fmt);
	log_vwrite(lvl, fmt, ap);
	va_end(ap);
}

void
log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}

const char *
log_quote(char *out, size_t outsz, const char *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	if (outsz < 3) {
		if (outsz > 0)
			out[0] = '\0';
		return out;
	}
	out[o++] = '"';
	for (i = 0; i < len && o + 5 < outsz; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	if (i < len && o + 4 < outsz) {
		out[o++] = '.';
		out[o++] = '.';
		out[o++] = '.';
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}
