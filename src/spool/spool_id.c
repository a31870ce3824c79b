/*
 * spool_id.c - queue ids that are unique and sort by time: 13 hex digits of
 * microseconds since the epoch and 3 of a process-wide counter. Uniqueness
 * across restarts comes from the clock; O_EXCL and RENAME_NOREPLACE catch
 * the rest.
 */
#include "spool/spool.h"

#include <stdatomic.h>
#include <stdio.h>
#include <sys/time.h>

static atomic_uint spool_id_counter;

void
spool_id_new(char id[SPOOL_ID_LEN + 1])
{
	struct timeval tv;
	unsigned long long usec;
	unsigned n = atomic_fetch_add(&spool_id_counter, 1) & 0xfff;

	gettimeofday(&tv, NULL);
	usec = (unsigned long long)tv.tv_sec * 1000000ULL + (unsigned long long)tv.tv_usec;
	snprintf(id, SPOOL_ID_LEN + 1, "%013llX%03X", usec & 0xFFFFFFFFFFFFFULL, n);
}
