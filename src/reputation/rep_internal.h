/* rep_internal.h - shared by the files of src/reputation/. */
#ifndef FERRY_REPUTATION_REP_INTERNAL_H
#define FERRY_REPUTATION_REP_INTERNAL_H

#include "db/db.h"

#include "reputation/rep.h"

/* Sums by metric while a window is read: the fixed metrics in t, every
 * bounce category in cats (sorted and cut to REP_CATS_MAX at the end). */
struct rep_sums {
	struct rep_totals t;
	struct rep_cat { char name[REP_CATEGORY_MAX + 1]; long long n; } *cats;
	size_t ncats, cap;
};

/* The start of the 5-minute bucket holding t. */
time_t rep_bucket(time_t t);
/* The first bucket of the last `seconds` before now, and not before since
 * (a bucket partly before since is left out: it holds older evidence). */
time_t rep_window_first(int seconds, time_t since, time_t now);
void rep_sums_add(struct rep_sums *s, const char *metric, long long n);
/* Sum tenant's buckets first[i]..last from db into s[i], for n windows
 * (at most REP_SUMS_MAX) in one query. 0 or -1. */
#define REP_SUMS_MAX 3
int rep_sums_query(struct db *db, long long tenant, const time_t *first, size_t n, time_t last,
    struct rep_sums *s);
/* The same from a running struct rep (database + pending deltas):
 * window i is the last seconds[i] not before since[i]. */
int rep_totals_n(struct rep *r, long long tenant_id, const int *seconds, const time_t *since,
    size_t n, time_t now, struct rep_totals *out);
/* The totals, largest categories first. */
void rep_sums_totals(struct rep_sums *s, struct rep_totals *out);
void rep_sums_free(struct rep_sums *s);

/* Evaluate the tenants noted since the last round (the thread's job every
 * few seconds; tests call it); a tenant whose evaluation failed stays
 * noted for the next round. Returns how many stayed. */
size_t rep_evaluate_active(struct rep *r, time_t now);

/* The running thresholds and state handle of r. */
void rep_limits_get(struct rep *r, struct rep_limits *out);
struct state *rep_state(struct rep *r);

#endif
