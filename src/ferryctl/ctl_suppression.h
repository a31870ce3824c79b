/*
 * ctl_suppression.h - shared by ctl_suppression.c (the commands) and
 * ctl_suppression_csv.c (import and export as CSV).
 */
#ifndef FERRY_CTL_SUPPRESSION_H
#define FERRY_CTL_SUPPRESSION_H

#include "ferryctl/ctl_state.h"
#include "state/suppress.h"

/* The id of tenant name: 0, or -1 after a message. */
int ctl_suppression_tenant(struct state *st, const char *name, long long *id);
/* "30d", "12h", "90m", "3600s" or "3600" as seconds (> 0): 0 or -1. */
int ctl_duration_parse(const char *s, long long *out);

int ctl_suppression_import(struct ctl *c, struct state *st, const struct ctl_sargs *a);
int ctl_suppression_export(struct ctl *c, struct state *st, const struct ctl_sargs *a);

#endif
