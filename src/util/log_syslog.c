/*
 * log_syslog.c - send log lines to syslog(3), facility mail (RFC 5424
 * 6.2.1: facility 2), each with the priority of its level.
 * SECURITY: the line is passed as a "%.*s" argument, never as the format.
 */
#include "util/log_syslog.h"

#include <syslog.h>

void
log_syslog_open(const char *ident)
{
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_syslog_send(int level, const char *msg, size_t len)
{
	static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };

	if (level < 0 || level > 3)
		level = 3;
	syslog(prio[level], "%.*s", (int)len, msg);
}
