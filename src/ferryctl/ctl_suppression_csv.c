/*
 * ctl_suppression_csv.c - `suppression import` and `export`: a tenant's
 * suppression list as CSV (RFC 4180: comma-separated, fields with a comma,
 * quote or line break quoted, quotes doubled; CRLF or LF line ends). The
 * first line names the columns: address (required), reason, time,
 * expires, cause, in any order. time and expires are Unix seconds,
 * YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC); empty time is now, empty
 * expires never. Export writes every column, times in the last form.
 * A UTF-8 byte order mark before the header is skipped (Excel's "CSV
 * UTF-8" writes one). Rows replace entries as an automatic addition does
 * (state_suppression_add: an old export never weakens a live entry).
 * A bad line is reported as FILE:LINE: why and skipped (the rest still
 * imports; the exit status is then 1).
 * SECURITY: the file is the administrator's but may come from elsewhere (a
 * provider's export): records are bounded (util/csv.h), every field
 * is validated before it is stored.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferryctl/ctl_suppression.h"
#include "util/csv.h"

#define CTL_CSV_PROGRESS    100000   /* rows between progress lines */
#define CTL_CSV_BAD_SHOWN   100      /* bad lines reported one by one */

enum ctl_csv_col { CSV_ADDR, CSV_REASON, CSV_TIME, CSV_EXPIRES, CSV_CAUSE, CSV_NCOLS };
static const char *const ctl_csv_names[CSV_NCOLS] = {
	"address", "reason", "time", "expires", "cause",
};

/* ---- import ----------------------------------------------------------------- */

/* Unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ; "" gives def. */
static int
ctl_csv_time(const char *s, time_t def, time_t *out)
{
	struct tm tm;
	const char *end;
	long long v;
	char *e;

	if (s[0] == '\0') {
		*out = def;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) != NULL && *end == '\0')
		*out = timegm(&tm);
	else if (memset(&tm, 0, sizeof(tm)), (end = strptime(s, "%Y-%m-%d", &tm)) != NULL &&
	    *end == '\0')
		*out = timegm(&tm);
	else {
		errno = 0;
		v = strtoll(s, &e, 10);
		if (errno != 0 || *e != '\0' || v < 0 || s[0] < '0' || s[0] > '9')
			return -1;
		*out = (time_t)v;
	}
	return 0;
}

/* The columns named by the header: col[CSV_*] the field index or -1. */
static const char *
ctl_csv_header(struct csv_reader *c, int col[CSV_NCOLS])
{
	if (c->nfields > 0 && strncmp(c->field[0], "\xEF\xBB\xBF", 3) == 0)
		c->field[0] += 3;   /* the BOM: a mark, not part of the first name */
	for (int k = 0; k < CSV_NCOLS; k++)
		col[k] = -1;
	for (int i = 0; i < c->nfields; i++) {
		int k = 0;
		while (k < CSV_NCOLS && strcmp(c->field[i], ctl_csv_names[k]) != 0)
			k++;
		if (k == CSV_NCOLS)
			return "unknown column in the header (address, reason, time, expires, cause)";
		if (col[k] >= 0)
			return "a column named twice in the header";
		col[k] = i;
	}
	return col[CSV_ADDR] < 0 ? "the header line has no address column" : NULL;
}

static const char *
ctl_csv_col(const struct csv_reader *c, const int col[CSV_NCOLS], enum ctl_csv_col k)
{
	return col[k] >= 0 && col[k] < c->nfields ? c->field[col[k]] : "";
}

/* The record as a suppression: NULL, or why it is refused. */
static const char *
ctl_csv_row(const struct csv_reader *c, const int col[CSV_NCOLS], int ncols, time_t now,
    struct suppression *s)
{
	const char *reason = ctl_csv_col(c, col, CSV_REASON), *why;

	memset(s, 0, sizeof(*s));
	if (c->nfields != ncols)
		return "wrong number of fields (not as many as the header's)";
	if ((why = suppress_addr_parse(ctl_csv_col(c, col, CSV_ADDR), s->addr)) != NULL)
		return why;
	s->reason = SUPPRESS_MANUAL;
	if (reason[0] != '\0' && suppress_reason_parse(reason, &s->reason) != 0)
		return "unknown reason (hard-bounce, soft-bounce, complaint, unsubscribe, manual)";
	if (ctl_csv_time(ctl_csv_col(c, col, CSV_TIME), now, &s->time) != 0)
		return "bad time (Unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)";
	if (ctl_csv_time(ctl_csv_col(c, col, CSV_EXPIRES), 0, &s->expires) != 0)
		return "bad expires (empty, Unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)";
	return suppress_cause_parse(ctl_csv_col(c, col, CSV_CAUSE), s->cause);
}

static double
ctl_csv_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct ctl_csv_run {
	const char *name;
	long long   rows, bad;
	double      t0;
};

static void
ctl_csv_bad(struct ctl_csv_run *r, long line, const char *why)
{
	if (++r->bad <= CTL_CSV_BAD_SHOWN)
		fprintf(stderr, "%s:%ld: %s (skipped)\n", r->name, line, why);
	else if (r->bad == CTL_CSV_BAD_SHOWN + 1)
		fprintf(stderr, "%s: more bad lines, not shown\n", r->name);
}

static void
ctl_csv_progress(const struct ctl_csv_run *r, const char *what, bool last)
{
	double dt = ctl_csv_clock() - r->t0;

	if (!last && r->rows % CTL_CSV_PROGRESS != 0)
		return;
	fprintf(stderr, "%s%s %lld rows in %.1f s (%.0f rows/s)\n", last ? "" : "... ", what,
	    r->rows, dt, dt > 0 ? (double)r->rows / dt : 0.0);
}

/* Rows of c into imp; 0, or -1 on a database error. */
static int
ctl_csv_import_rows(struct csv_reader *c, struct suppress_import *imp, struct ctl_csv_run *r,
    const int col[CSV_NCOLS], int ncols)
{
	struct suppression s;
	const char *why;
	time_t now = time(NULL);
	int rc;

	while ((rc = csv_record_read(c)) != 0) {
		if (rc < 0 || (why = ctl_csv_row(c, col, ncols, now, &s)) != NULL) {
			ctl_csv_bad(r, c->start, rc < 0 ? c->error : why);
			continue;
		}
		if (state_suppression_import_add(imp, &s) != 0)
			return -1;
		r->rows++;
		ctl_csv_progress(r, "imported", false);
	}
	return ferror(c->f) ? -1 : 0;
}

static FILE *
ctl_csv_open(const char *path, const char *mode)
{
	FILE *f = strcmp(path, "-") == 0 ? (mode[0] == 'r' ? stdin : stdout) : fopen(path, mode);

	if (f == NULL)
		ctl_warn("%s: %s", path, strerror(errno));
	return f;
}

int
ctl_suppression_import(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	struct csv_reader *csv = calloc(1, sizeof(*csv));
	struct ctl_csv_run r = { strcmp(a->arg[1], "-") == 0 ? "stdin" : a->arg[1], 0, 0, ctl_csv_clock() };
	struct suppress_import *imp = NULL;
	int col[CSV_NCOLS], ncols, rc = CTL_EXIT_ERR;
	const char *why = "no header line (address,reason,time,expires,cause)";
	long long id;

	(void)c;
	if (csv == NULL || ctl_suppression_tenant(st, a->arg[0], &id) != 0 ||
	    (csv->f = ctl_csv_open(a->arg[1], "r")) == NULL)
		goto done;
	csv->line = 1;
	if ((rc = csv_record_read(csv)) != 1 || (why = ctl_csv_header(csv, col)) != NULL) {
		ctl_warn("%s:%ld: %s", r.name, csv->start, rc < 0 ? csv->error : why);
		rc = CTL_EXIT_ERR;
		goto done;
	}
	rc = CTL_EXIT_ERR;
	ncols = csv->nfields;
	if ((imp = state_suppression_import_begin(st, id)) == NULL ||
	    ctl_csv_import_rows(csv, imp, &r, col, ncols) != 0) {
		ctl_warn("%s:%ld: %s", r.name, csv->start, ferror(csv->f) ? strerror(errno) :
		    "database error: rows after the last 10,000-row commit not imported");
		goto done;
	}
	if (state_suppression_import_end(imp, true) == 0)
		rc = r.bad > 0 ? CTL_EXIT_ERR : CTL_EXIT_OK;
	imp = NULL;
	ctl_csv_progress(&r, "imported", true);
	if (r.bad > 0)
		fprintf(stderr, "%lld bad lines skipped\n", r.bad);
done:
	if (imp != NULL)
		state_suppression_import_end(imp, false);
	if (csv != NULL && csv->f != NULL && csv->f != stdin)
		fclose(csv->f);
	free(csv);
	return rc;
}

/* ---- export ----------------------------------------------------------------- */

static void
ctl_csv_write_field(FILE *f, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL && s[0] != ' ') {
		fputs(s, f);
		return;
	}
	putc_unlocked('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"')
			putc_unlocked('"', f);
		putc_unlocked(*s, f);
	}
	putc_unlocked('"', f);
}

static void
ctl_csv_write_time(FILE *f, time_t t)
{
	char buf[32];
	struct tm tm;

	if (t != 0 && gmtime_r(&t, &tm) != NULL && strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
		fputs(buf, f);
}

struct ctl_csv_out {
	FILE              *f;
	struct ctl_csv_run r;
};

static int
ctl_csv_export_row(void *arg, const struct suppression *s)
{
	struct ctl_csv_out *o = arg;

	ctl_csv_write_field(o->f, s->addr);
	fprintf(o->f, ",%s,", suppress_reason_name(s->reason));
	ctl_csv_write_time(o->f, s->time);
	putc_unlocked(',', o->f);
	ctl_csv_write_time(o->f, s->expires);
	putc_unlocked(',', o->f);
	ctl_csv_write_field(o->f, s->cause);
	putc_unlocked('\n', o->f);
	o->r.rows++;
	ctl_csv_progress(&o->r, "exported", false);
	return ferror(o->f) ? 1 : 0;
}

int
ctl_suppression_export(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	const char *path = a->narg > 1 ? a->arg[1] : "-";
	struct ctl_csv_out o = { NULL, { strcmp(path, "-") == 0 ? "stdout" : path, 0, 0, ctl_csv_clock() } };
	long long id, n;
	int rc = CTL_EXIT_OK;

	(void)c;
	if (ctl_suppression_tenant(st, a->arg[0], &id) != 0 || (o.f = ctl_csv_open(path, "w")) == NULL)
		return CTL_EXIT_ERR;
	fputs("address,reason,time,expires,cause\n", o.f);
	n = state_suppression_each(st, id, NULL, 0, ctl_csv_export_row, &o);
	if (n < 0) {
		ctl_warn("%s: cannot read the suppression list", state_path(st));
		rc = CTL_EXIT_ERR;
	}
	if (ferror(o.f) || (o.f != stdout ? fclose(o.f) : fflush(o.f)) != 0) {
		ctl_warn("%s: %s", o.r.name, strerror(errno));
		rc = CTL_EXIT_ERR;
	}
	ctl_csv_progress(&o.r, "exported", true);
	return rc;
}
