/*
 * ferryd_notify.h - tell the service manager (systemd, Type=notify) what
 * ferryd is doing: ready, reloading, stopping. A no-op without NOTIFY_SOCKET.
 */
#ifndef FERRYD_NOTIFY_H
#define FERRYD_NOTIFY_H

/* READY=1 with a one-line STATUS= for `systemctl status`. */
void ferryd_notify_ready(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* RELOADING=1, at SIGHUP; ferryd_notify_ready() when the reload is done. */
void ferryd_notify_reloading(void);

/* STOPPING=1, at SIGTERM or SIGINT. */
void ferryd_notify_stopping(void);

#endif
