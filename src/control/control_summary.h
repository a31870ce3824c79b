/*
 * control_summary.h - the control socket's queue summary and suspension
 * requests as both ends see them: a summary row as one line (written by
 * ferryd's control.c, read back by ferryctl) and the syntax of the site
 * names and tenant ids those requests carry. One definition for ferryd and
 * ferryctl, so the two ends cannot drift apart. Protocol in control.c.
 * SECURITY: the parser is strict (exact field count, decimal numbers only)
 * and never trusts the peer's lengths; names are checked before use.
 */
#ifndef FERRY_CONTROL_SUMMARY_H
#define FERRY_CONTROL_SUMMARY_H

#include <stdbool.h>
#include <stddef.h>

#include "queue/qmgr.h"

#define CONTROL_SUMMARY_FIELDS   12
#define CONTROL_SUMMARY_LINE_MAX 4096   /* a formatted row, LF and NUL included */
#define CONTROL_SITE_NAME_MAX    255    /* suspend-site / resume-site NAME */
#define CONTROL_TENANT_ID_DIGITS 18

/* Split a reply line (NUL-terminated, no LF) in place at its TABs into
 * exactly n fields; false when it has more or fewer. */
bool control_line_fields(char *line, char **f, int n);

/* "site", "domain" or "tenant". */
const char *control_row_kind_name(enum qmgr_row_kind kind);

/* row as one line ending in LF into buf (size at least
 * CONTROL_SUMMARY_LINE_MAX); returns its length. Control characters in
 * strings are sent as '?', a name or shaping text too long for the line is
 * cut and ends in "...", negative counts are sent as 0. */
size_t control_summary_format(const struct qmgr_summary_row *row, char *buf, size_t size);

/* One summary line (NUL-terminated, no LF), split in place: the strings of
 * row point into line. 0, or -1 when it is not a well-formed row. */
int control_summary_parse(char *line, struct qmgr_summary_row *row);

/* 1..CONTROL_SITE_NAME_MAX octets of letters, digits and . - _ : [ ] , /
 * (a domain, an MX host, "mx1.example,mx2.example", "smtp:HOST:PORT",
 * "lmtp:/path", "[192.0.2.1]"). */
bool control_site_name_valid(const char *s);

/* A queue id: SPOOL_ID_LEN upper-case hex digits (the control socket's
 * requests and the HTTP API's /v1/queue/messages/{id}). */
bool control_id_valid(const char *s);

/* A tenant id: 1..18 digits, not 0. */
bool control_tenant_id_parse(const char *s, long long *id);

#endif
