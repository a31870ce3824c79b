/*
 * ctl_queue_summary.c - `ferryctl queue summary` (the queue by destination
 * site, by domain and by tenant, in the spirit of Postfix's qshape) and
 * `ferryctl queue suspend|resume site NAME|tenant NAME`: one request over
 * ferryd's control socket each (protocol in src/control/control.c, rows in
 * control_summary.c). Tenant ids become names through the state database.
 * SECURITY: ferryd decides who may ask. Rows are parsed strictly (a
 * malformed one ends the command); the state database is only read, never
 * created, and a tenant that cannot be looked up shows as its id.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "control/control_summary.h"
#include "db/db.h"
#include "ferryctl/ctl.h"
#include "state/state.h"
#include "util/xmalloc.h"

#define CTL_SUM_ROWS_MAX  1000000   /* rows kept from one reply */
#define CTL_SUM_NAME_COL  48        /* a longer name pushes its own row only */
#define CTL_SUM_CELL_MAX  2600      /* the STATE cell: "suspended, shaping: " + text */

/* One row of the reply, with copies of its strings. */
struct ctl_sum_row {
	struct qmgr_summary_row r;
	char *name, *source, *shaping;
	char *label;                 /* tenant rows: the name shown */
};

struct ctl_sum {
	struct ctl_sum_row *rows;
	size_t              n;
};

/* What a table shows, left to right. */
enum ctl_sum_col {
	COL_NAME, COL_SOURCE, COL_READY, COL_SCHED, COL_ACTIVE, COL_HELD, COL_CONNS, COL_LIMIT,
	COL_STATE, COL_END
};

static const char *const ctl_sum_heads[] = {
	"", "SOURCE", "READY", "SCHED", "ACTIVE", "HELD", "CONNS", "LIMIT", "STATE",
};

struct ctl_sum_table {
	enum qmgr_row_kind kind;
	const char        *title;    /* the NAME column's head */
	enum ctl_sum_col   cols[COL_END + 1];
};

static const struct ctl_sum_table ctl_sum_tables[] = {
	{ QMGR_ROW_SITE, "SITE", { COL_NAME, COL_SOURCE, COL_READY, COL_SCHED, COL_ACTIVE, COL_CONNS,
	    COL_LIMIT, COL_STATE, COL_END } },
	{ QMGR_ROW_DOMAIN, "DOMAIN", { COL_NAME, COL_READY, COL_SCHED, COL_ACTIVE, COL_HELD,
	    COL_STATE, COL_END } },
	{ QMGR_ROW_TENANT, "TENANT", { COL_NAME, COL_READY, COL_SCHED, COL_ACTIVE, COL_HELD,
	    COL_STATE, COL_END } },
};

/* ---- the reply ---------------------------------------------------------------- */

/* A ctl_queue_line_fn: keep one row. */
static bool
ctl_sum_line(void *arg, char *line)
{
	struct ctl_sum *s = arg;
	struct ctl_sum_row *row;
	struct qmgr_summary_row r;

	if (s->n == CTL_SUM_ROWS_MAX || control_summary_parse(line, &r) != 0)
		return false;
	s->rows = xrealloc(s->rows, (s->n + 1) * sizeof(*s->rows));
	row = &s->rows[s->n++];
	row->r = r;
	row->name = xstrdup(r.name);
	row->source = xstrdup(r.source);
	row->shaping = xstrdup(r.shaping);
	row->label = NULL;
	row->r.name = row->name;
	row->r.source = row->source;
	row->r.shaping = row->shaping;
	return true;
}

static void
ctl_sum_free(struct ctl_sum *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->rows[i].name);
		free(s->rows[i].source);
		free(s->rows[i].shaping);
		free(s->rows[i].label);
	}
	free(s->rows);
}

/* ---- tenant names ----------------------------------------------------------- */

/* The state database if it exists and can be read; NULL otherwise (with a
 * note when it exists but cannot be opened: ids are shown instead). */
static struct state *
ctl_sum_state_open(struct ctl *c)
{
	char err[1024];
	struct state *st;
	struct stat sb;

	if (ctl_state_path(c) < 0 || (!db_is_pg_uri(c->state) && stat(c->state, &sb) != 0))
		return NULL;
	if ((st = state_open(c->state, err, sizeof(err))) == NULL)
		fprintf(stderr, "ferryctl: note: tenants shown by id: %s\n", err);
	return st;
}

/* Tenant rows: "(none)" for mail of no tenant, else the tenant's name, or
 * its id when the database does not know it (or cannot be read). */
static void
ctl_sum_tenants_name(struct ctl *c, struct ctl_sum *s)
{
	struct state *st = NULL;
	struct state_tenant t;
	bool opened = false;
	long long id;

	for (size_t i = 0; i < s->n; i++) {
		struct ctl_sum_row *row = &s->rows[i];

		if (row->r.kind != QMGR_ROW_TENANT)
			continue;
		if (strcmp(row->name, "0") == 0) {
			row->label = xstrdup("(none)");
			continue;
		}
		if (!opened) {
			st = ctl_sum_state_open(c);
			opened = true;
		}
		if (st != NULL && control_tenant_id_parse(row->name, &id) &&
		    state_tenant_by_id(st, id, &t) == 1)
			row->label = xstrdup(t.name);
	}
	state_close(st);
}

/* ---- printing ------------------------------------------------------------------ */

static long
ctl_sum_total(const struct qmgr_summary_row *r)
{
	return r->ready + r->scheduled + r->active + r->held;
}

/* By kind, then most mail first, then by name: the worst backlog on top. */
static int
ctl_sum_cmp(const void *a, const void *b)
{
	const struct qmgr_summary_row *x = &((const struct ctl_sum_row *)a)->r;
	const struct qmgr_summary_row *y = &((const struct ctl_sum_row *)b)->r;
	long tx = ctl_sum_total(x), ty = ctl_sum_total(y);

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (tx != ty)
		return tx > ty ? -1 : 1;
	return strcmp(x->name, y->name);
}

static const char *
ctl_sum_state(const struct ctl_sum_row *row, char *buf, size_t size)
{
	const char *sep = row->r.suspended && row->shaping[0] != '\0' ? ", " : "";

	snprintf(buf, size, "%s%s%s%s", row->r.suspended ? "suspended" : "", sep,
	    row->shaping[0] != '\0' ? "shaping: " : "", row->shaping);
	return buf;
}

/* The text of one cell (in buf, or a string of row). */
static const char *
ctl_sum_cell(const struct ctl_sum_row *row, enum ctl_sum_col col, char *buf, size_t size)
{
	const struct qmgr_summary_row *r = &row->r;

	switch (col) {
	case COL_NAME:   return row->label != NULL ? row->label : row->name;
	case COL_SOURCE: return row->source[0] != '\0' ? row->source : "-";
	case COL_READY:  snprintf(buf, size, "%ld", r->ready); break;
	case COL_SCHED:  snprintf(buf, size, "%ld", r->scheduled); break;
	case COL_ACTIVE: snprintf(buf, size, "%ld", r->active); break;
	case COL_HELD:   snprintf(buf, size, "%ld", r->held); break;
	case COL_CONNS:  snprintf(buf, size, "%d/%d", r->conns_open, r->conns_busy); break;
	case COL_LIMIT:  snprintf(buf, size, "%d", r->limit); break;
	default:         return ctl_sum_state(row, buf, size);
	}
	return buf;
}

/* Column widths of table t over rows [from, to). */
static void
ctl_sum_widths(const struct ctl_sum_table *t, const struct ctl_sum_row *rows, size_t from,
    size_t to, size_t *w)
{
	char buf[CTL_SUM_CELL_MAX];
	size_t len;

	for (int i = 0; t->cols[i] != COL_END; i++) {
		w[i] = strlen(t->cols[i] == COL_NAME ? t->title : ctl_sum_heads[t->cols[i]]);
		for (size_t j = from; j < to; j++) {
			len = strlen(ctl_sum_cell(&rows[j], t->cols[i], buf, sizeof(buf)));
			if (len > w[i] && (t->cols[i] != COL_NAME || len <= CTL_SUM_NAME_COL))
				w[i] = len;
		}
	}
}

/* One line: text left-aligned for names, numbers right-aligned, nothing
 * after the last column (no trailing blanks when it is empty). */
static void
ctl_sum_print_line(const struct ctl_sum_table *t, const size_t *w, const char *const *cell)
{
	for (int i = 0; t->cols[i] != COL_END; i++) {
		bool last = t->cols[i + 1] == COL_END;
		bool left = t->cols[i] == COL_NAME || t->cols[i] == COL_SOURCE || t->cols[i] == COL_STATE;

		if (last)
			printf("%s%s", i > 0 && cell[i][0] != '\0' ? "  " : "", cell[i]);
		else
			printf("%s%*s", i > 0 ? "  " : "", left ? -(int)w[i] : (int)w[i], cell[i]);
	}
	printf("\n");
}

static void
ctl_sum_table_print(const struct ctl_sum_table *t, const struct ctl_sum_row *rows, size_t from,
    size_t to)
{
	char buf[COL_END][CTL_SUM_CELL_MAX];
	const char *cell[COL_END];
	size_t w[COL_END];

	ctl_sum_widths(t, rows, from, to, w);
	for (int i = 0; t->cols[i] != COL_END; i++)
		cell[i] = t->cols[i] == COL_NAME ? t->title : ctl_sum_heads[t->cols[i]];
	ctl_sum_print_line(t, w, cell);
	for (size_t j = from; j < to; j++) {
		for (int i = 0; t->cols[i] != COL_END; i++)
			cell[i] = ctl_sum_cell(&rows[j], t->cols[i], buf[i], sizeof(buf[i]));
		ctl_sum_print_line(t, w, cell);
	}
}

/* The tables that have rows, a blank line between them (rows sorted). */
static void
ctl_sum_print(const struct ctl_sum *s)
{
	size_t from = 0, to;
	bool first = true;

	if (s->n == 0) {
		printf("queue is empty\n");
		return;
	}
	for (size_t k = 0; k < sizeof(ctl_sum_tables) / sizeof(ctl_sum_tables[0]); k++) {
		for (to = from; to < s->n && s->rows[to].r.kind == ctl_sum_tables[k].kind; to++)
			;
		if (to == from)
			continue;
		if (!first)
			printf("\n");
		ctl_sum_table_print(&ctl_sum_tables[k], s->rows, from, to);
		first = false;
		from = to;
	}
}

int
ctl_queue_summary(struct ctl *c, int argc, char **argv)
{
	struct ctl_sum s = { NULL, 0 };
	int rc;

	(void)argv;
	if (argc != 1) {
		ctl_warn("queue summary takes no operand");
		return ctl_queue_usage_error();
	}
	rc = ctl_queue_ask(c, "summary\n", "queue summary", ctl_sum_line, &s);
	if (rc == CTL_EXIT_OK) {
		ctl_sum_tenants_name(c, &s);
		if (s.n > 0)
			qsort(s.rows, s.n, sizeof(*s.rows), ctl_sum_cmp);
		ctl_sum_print(&s);
		if (fflush(stdout) != 0)
			rc = CTL_EXIT_ERR;
	}
	ctl_sum_free(&s);
	return rc;
}

/* ---- suspend and resume ----------------------------------------------------------- */

/* The id of the tenant called name; 0 after a warning when there is none. */
static long long
ctl_sum_tenant_id(struct ctl *c, const char *name)
{
	char err[1024];
	struct state_tenant t;
	struct state *st;
	struct stat sb;
	int found;

	if (ctl_state_path(c) < 0)
		return 0;
	if (!db_is_pg_uri(c->state) && stat(c->state, &sb) != 0) {
		ctl_warn("no tenant %s (the state database %s: %s)", name, c->state, strerror(errno));
		return 0;
	}
	if ((st = state_open(c->state, err, sizeof(err))) == NULL) {
		ctl_warn("%s", err);
		return 0;
	}
	found = state_tenant_by_name(st, name, &t);
	state_close(st);
	if (found < 0)
		ctl_warn("cannot read the tenants of %s", c->state);
	else if (found == 0)
		ctl_warn("no tenant %s", name);
	return found == 1 ? t.id : 0;
}

int
ctl_queue_suspend(struct ctl *c, int argc, char **argv)
{
	bool suspend = strcmp(argv[0], "suspend") == 0, site;
	char req[CONTROL_SITE_NAME_MAX + 32], label[CONTROL_SITE_NAME_MAX + 64];
	long long id = 0;
	int rc;

	if (argc != 3 || (strcmp(argv[1], "site") != 0 && strcmp(argv[1], "tenant") != 0)) {
		ctl_warn("queue %s takes site NAME or tenant NAME", argv[0]);
		return ctl_queue_usage_error();
	}
	site = strcmp(argv[1], "site") == 0;
	if (site && !control_site_name_valid(argv[2])) {
		ctl_warn("invalid site name %s: 1 to %d of letters, digits and . - _ : [ ] , / as"
		    " `ferryctl queue summary` shows it", argv[2], CONTROL_SITE_NAME_MAX);
		return CTL_EXIT_ERR;
	}
	if (!site && (id = ctl_sum_tenant_id(c, argv[2])) == 0)
		return CTL_EXIT_ERR;
	if (site)
		snprintf(req, sizeof(req), "%s-site %s\n", argv[0], argv[2]);
	else
		snprintf(req, sizeof(req), "%s-tenant %lld\n", argv[0], id);
	snprintf(label, sizeof(label), "queue %s %s %s", argv[0], argv[1], argv[2]);
	if ((rc = ctl_queue_ask(c, req, label, NULL, NULL)) != CTL_EXIT_OK)
		return rc;
	if (suspend)
		printf("%s %s: delivery suspended; its mail stays queued until `ferryctl queue resume"
		    " %s %s` or ferryd restarts\n", argv[1], argv[2], argv[1], argv[2]);
	else
		printf("%s %s: delivery resumed\n", argv[1], argv[2]);
	return fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_ERR;
}
