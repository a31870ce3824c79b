/*
 * control.h - ferryd's control socket: a Unix stream socket (mode 0660,
 * owner the run user and its group) through which ferryctl steers the queue.
 * One request line per connection, answered by lines ending with "OK" or
 * "ERR reason" (protocol in control.c).
 * SECURITY: only root, the run user and members of its group may connect
 * (file mode, then SO_PEERCRED checked again); requests are bounded lines;
 * nothing a request says is passed to a shell or used as a path.
 */
#ifndef FERRY_CONTROL_CONTROL_H
#define FERRY_CONTROL_CONTROL_H

#include <stddef.h>
#include <sys/types.h>

struct control;
struct qmgr;

/* Bind the socket (before privileges are dropped); uid/gid -1: unchanged. */
struct control *control_open(const char *path, uid_t uid, gid_t gid, char *err, size_t errlen);
/* Serve requests on a thread of its own. */
int  control_start(struct control *c, struct qmgr *q);
void control_stop(struct control *c);

#endif
