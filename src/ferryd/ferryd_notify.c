/*
 * ferryd_notify.c - the sd_notify(3) protocol for ferryd.service
 * (Type=notify): READY=1 once ferryd listens and delivers, RELOADING=1 then
 * READY=1 around a SIGHUP reload, STOPPING=1 at SIGTERM/SIGINT.
 * SECURITY: trusts $NOTIFY_SOCKET, set by the service manager (or whoever
 * started ferryd); it only ever receives these state lines. The datagrams
 * are sent after ferryd dropped root, which systemd accepts because it
 * matches the sender by PID (NotifyAccess=main), not by user.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "ferryd/ferryd_notify.h"
#include "util/log.h"

/* A failure to notify is logged and otherwise ignored: systemd then times
 * the start out, which says more than ferryd stopping itself would. */
static void
ferryd_notify_send(const char *state)
{
	int rc = sd_notify(0, state);

	if (rc < 0)
		log_warn("event=notify-failed error=\"%s\"", strerror(-rc));
}

void
ferryd_notify_ready(const char *fmt, ...)
{
	char status[256], state[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(status, sizeof(status), fmt, ap);
	va_end(ap);
	snprintf(state, sizeof(state), "READY=1\nSTATUS=%s", status);
	ferryd_notify_send(state);
}

/* MONOTONIC_USEC lets systemd 253+ (Type=notify-reload) match this
 * RELOADING=1 to the reload it asked for; older ones ignore it. */
void
ferryd_notify_reloading(void)
{
	struct timespec ts;
	char state[96];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(state, sizeof(state), "RELOADING=1\nSTATUS=reloading the configuration\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL);
	ferryd_notify_send(state);
}

void
ferryd_notify_stopping(void)
{
	ferryd_notify_send("STOPPING=1\nSTATUS=finishing transactions in progress");
}
