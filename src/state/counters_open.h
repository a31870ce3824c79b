/*
 * counters_open.h - which counter backend a configuration asks for
 * (`counters local` or `counters redis://...`, `counters_failure`), for
 * ferryd (the running counters) and for the readers of usage (ferryctl
 * tenant show, GET /v1/account), so none of them knows the backends.
 */
#ifndef FERRY_STATE_COUNTERS_OPEN_H
#define FERRY_STATE_COUNTERS_OPEN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "state/counters.h"

struct conf;

/* Does c share its counters through Redis? */
bool counters_conf_shared(const struct conf *c);

/* The backend c names: the local one on c->state_db, or Redis (a server not
 * reachable yet is not an error: see counters_redis.h). NULL + err. */
struct counters *counters_open(const struct conf *c, char *err, size_t errlen);

/* The count of key's current window as the backend c names holds it, read
 * without a running ferryd: -1 when it cannot be read (Redis unreachable). */
long long counters_usage_read(const struct conf *c, const char *key, int period, time_t now);

#endif
