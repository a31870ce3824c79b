/*
 * db_pg.c - the PostgreSQL driver of db.h over libpq. A statement is
 * client-side text (translated once, db_pg_sql.c) run with PQexecParams at
 * its first step; the rows are read from the kept result, so a statement
 * outlives a lost connection and works again after the reset.
 * Trusts the server's answers only as far as libpq parses them: numbers
 * are read with bounds, bytea decoded by libpq. A conninfo is only
 * ever logged with its password replaced (db_uri_redact).
 */
#include <errno.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db_internal.h"
#include "db/db_pg.h"
#include "util/log.h"

/* The type OIDs of PostgreSQL's catalog (pg_type.dat), stable since 7.x. */
#define OID_BOOL    16
#define OID_BYTEA   17
#define OID_INT8    20
#define OID_INT2    21
#define OID_INT4    23
#define OID_OID     26
#define OID_FLOAT4  700
#define OID_FLOAT8  701
#define OID_NUMERIC 1700

#define PG_BACKOFF_MIN_MS 100
#define PG_BACKOFF_MAX_MS 5000

struct pdb {
	struct db base;
	PGconn   *conn;
	char      where[256];       /* the conninfo, password redacted, for logs */
	char      err[1024];
	long long changes;
	bool      lost;             /* an outage logged, not yet over */
	uint64_t  next_try_ms;      /* no reset before this (monotonic) */
	unsigned  backoff_ms;
};

struct pstmt {
	struct db_stmt   base;
	char            *text;      /* translated */
	struct db_pg_sql info;
	/* parameters, as PQexecParams takes them; owned holds the copies */
	const char     **values;
	int             *lengths, *formats;
	Oid             *types;
	char           **owned;
	PGresult        *res;       /* NULL until the first step */
	int              row, ncols;
	unsigned char  **dec;       /* bytea columns of the row, decoded */
	int             *declen;
};

#define PDB(d)  ((struct pdb *)(void *)(d))
#define PST(s)  ((struct pstmt *)(void *)(s))

static uint64_t
pg_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Keep libpq's message, on one line, as the connection's error. */
static void
pg_err_set(struct pdb *d, const char *msg)
{
	size_t n;

	snprintf(d->err, sizeof(d->err), "%s", msg != NULL && *msg != '\0' ? msg : "unknown error");
	/* libpq's messages span lines ("...\n\tThis probably means..."): one line */
	for (char *p = d->err; *p != '\0'; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	n = strlen(d->err);
	while (n > 0 && (d->err[n - 1] == '\n' || d->err[n - 1] == ' '))
		d->err[--n] = '\0';
}

/* NOTICEs (CREATE ... IF NOT EXISTS, skipping) would go to stderr. */
static void
pg_notice_ignore(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* What every session needs, after a connect or a reset. */
static int
pg_session_setup(struct pdb *d)
{
	PGresult *r;
	int ok;

	PQsetNoticeProcessor(d->conn, pg_notice_ignore, NULL);
	r = PQexec(d->conn, "SET synchronous_commit = on");
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		pg_err_set(d, PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

/* The connection is gone: say so once per outage, the next call resets. */
static void
pg_lost(struct pdb *d)
{
	char reason[512];

	if (d->lost)
		return;
	d->lost = true;
	d->backoff_ms = PG_BACKOFF_MIN_MS;
	d->next_try_ms = 0;
	log_warn("event=db-lost db=%s reason=%s", d->where,
	    log_quote(reason, sizeof(reason), d->err, strlen(d->err)));
}

/* Is the connection usable? A lost one is reset, at most once per backoff
 * interval (100 ms doubling to 5 s); between tries the call fails fast. */
static bool
pg_ready(struct pdb *d)
{
	uint64_t now;

	if (PQstatus(d->conn) == CONNECTION_OK && !d->lost)
		return true;
	if (!d->lost) {
		pg_err_set(d, PQerrorMessage(d->conn));
		pg_lost(d);
	}
	now = pg_now_ms();
	if (now < d->next_try_ms) {
		snprintf(d->err, sizeof(d->err), "database connection lost; next reconnect in %llu ms",
		    (unsigned long long)(d->next_try_ms - now));
		return false;
	}
	PQreset(d->conn);
	if (PQstatus(d->conn) == CONNECTION_OK && pg_session_setup(d) == 0) {
		d->lost = false;
		log_info("event=db-reconnect db=%s", d->where);
		return true;
	}
	pg_err_set(d, PQerrorMessage(d->conn));
	d->next_try_ms = now + d->backoff_ms;
	d->backoff_ms = d->backoff_ms * 2 > PG_BACKOFF_MAX_MS ? PG_BACKOFF_MAX_MS : d->backoff_ms * 2;
	return false;
}

/* A result's db_rc; the error kept, a lost connection noted. */
static int
pg_result_rc(struct pdb *d, PGresult *r)
{
	const char *state;

	switch (PQresultStatus(r)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
	case PGRES_EMPTY_QUERY:
		if (strncmp(PQcmdStatus(r), "INSERT", 6) == 0 || strncmp(PQcmdStatus(r), "UPDATE", 6) == 0 ||
		    strncmp(PQcmdStatus(r), "DELETE", 6) == 0)
			d->changes = strtoll(PQcmdTuples(r), NULL, 10);
		return DB_OK;
	default:
		break;
	}
	pg_err_set(d, r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(d->conn));
	if (PQstatus(d->conn) == CONNECTION_BAD) {
		pg_lost(d);
		return DB_ERROR;
	}
	state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	if (state != NULL && strncmp(state, "23", 2) == 0)
		return DB_CONSTRAINT;
	if (state != NULL && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0))
		return DB_BUSY;
	return DB_ERROR;
}

static const char *pg_errmsg(struct db *db) { return PDB(db)->err; }
static long long pg_changes(struct db *db) { return PDB(db)->changes; }

static int
pg_exec(struct db *db, const char *sql)
{
	struct pdb *d = PDB(db);
	struct db_pg_sql info;
	size_t cap = strlen(sql) * 2 + 64;
	char *text = malloc(cap);
	PGresult *r;
	int rc;

	if (text == NULL) {
		pg_err_set(d, "out of memory");
		return DB_ERROR;
	}
	if (db_pg_translate(sql, text, cap, &info, d->err, sizeof(d->err)) != 0) {
		free(text);
		return DB_ERROR;
	}
	if (info.empty) {
		free(text);
		return DB_OK;
	}
	if (!pg_ready(d)) {
		free(text);
		return DB_ERROR;
	}
	r = PQexec(d->conn, text);
	free(text);
	rc = pg_result_rc(d, r);
	PQclear(r);
	return rc;
}

/* The value lastval() gives: the identity or serial this session last
 * drew, 0 when none. */
static long long
pg_last_insert_id(struct db *db)
{
	struct pdb *d = PDB(db);
	PGresult *r;
	long long id = 0;

	if (!pg_ready(d))
		return 0;
	r = PQexec(d->conn, "SELECT lastval()");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	else
		pg_result_rc(d, r);
	PQclear(r);
	return id;
}

/* Drop the result and the row's decoded columns (bindings kept). */
static void
pg_result_clear(struct pstmt *s)
{
	for (int c = 0; c < s->ncols; c++)
		free(s->dec[c]);
	free(s->dec);
	free(s->declen);
	s->dec = NULL;
	s->declen = NULL;
	s->ncols = 0;
	PQclear(s->res);
	s->res = NULL;
	s->row = -1;
}

static void
pg_finalize(struct db_stmt *st)
{
	struct pstmt *s = PST(st);

	pg_result_clear(s);
	for (int i = 0; i < s->info.nparams; i++)
		free(s->owned[i]);
	free(s->owned);
	free(s->values);
	free(s->lengths);
	free(s->formats);
	free(s->types);
	free(s->text);
	free(s->base.sql);
	free(s);
}

static int
pg_prepare(struct db *db, const char *sql, struct db_stmt **out)
{
	struct pdb *d = PDB(db);
	struct pstmt *s = calloc(1, sizeof(*s));
	size_t cap = strlen(sql) * 2 + 64;
	int n;

	if (s == NULL || db_stmt_init(&s->base, db, sql) < 0 || (s->text = malloc(cap)) == NULL) {
		pg_err_set(d, "out of memory");
		goto fail;
	}
	s->row = -1;
	if (db_pg_translate(sql, s->text, cap, &s->info, d->err, sizeof(d->err)) != 0)
		goto fail;
	n = s->info.nparams > 0 ? s->info.nparams : 1;
	s->values = calloc((size_t)n, sizeof(*s->values));
	s->lengths = calloc((size_t)n, sizeof(*s->lengths));
	s->formats = calloc((size_t)n, sizeof(*s->formats));
	s->types = calloc((size_t)n, sizeof(*s->types));
	s->owned = calloc((size_t)n, sizeof(*s->owned));
	if (s->values == NULL || s->lengths == NULL || s->formats == NULL || s->types == NULL ||
	    s->owned == NULL) {
		pg_err_set(d, "out of memory");
		goto fail;
	}
	*out = &s->base;
	return DB_OK;
fail:
	if (s != NULL)
		pg_finalize(&s->base);
	return DB_ERROR;
}

/* Set parameter i (from 1) to a copy of v (NULL: SQL NULL). A new binding
 * drops the result: the next step runs the statement again. */
static int
pg_bind(struct db_stmt *st, int i, const void *v, size_t len, Oid type, int format)
{
	struct pstmt *s = PST(st);
	char *copy = NULL;

	if (i < 1 || i > s->info.nparams) {
		snprintf(PDB(st->db)->err, sizeof(PDB(st->db)->err), "bind index %d out of range (1..%d)",
		    i, s->info.nparams);
		return DB_ERROR;
	}
	if (v != NULL) {
		if ((copy = malloc(len + 1)) == NULL)
			return DB_ERROR;
		memcpy(copy, v, len);
		copy[len] = '\0';
	}
	pg_result_clear(s);
	i--;
	free(s->owned[i]);
	s->owned[i] = copy;
	s->values[i] = copy;
	s->lengths[i] = (int)len;
	s->formats[i] = format;
	s->types[i] = type;
	return DB_OK;
}

static int
pg_bind_int64(struct db_stmt *s, int i, long long v)
{
	char num[32];

	snprintf(num, sizeof(num), "%lld", v);
	return pg_bind(s, i, num, strlen(num), OID_INT8, 0);
}

static int
pg_bind_double(struct db_stmt *s, int i, double v)
{
	char num[64];

	snprintf(num, sizeof(num), "%.17g", v);
	return pg_bind(s, i, num, strlen(num), OID_FLOAT8, 0);
}

static int
pg_bind_text(struct db_stmt *s, int i, const char *v, int len)
{
	if (v == NULL)
		return pg_bind(s, i, NULL, 0, 0, 0);
	/* text format ends at a NUL: what follows one cannot be sent */
	return pg_bind(s, i, v, len < 0 ? strlen(v) : strnlen(v, (size_t)len), 0, 0);
}

static int
pg_bind_blob(struct db_stmt *s, int i, const void *v, int len)
{
	if (v == NULL && len > 0)
		return pg_bind(s, i, NULL, 0, 0, 0);
	return pg_bind(s, i, v != NULL ? v : "", len > 0 ? (size_t)len : 0, OID_BYTEA, 1);
}

static int pg_bind_null(struct db_stmt *s, int i) { return pg_bind(s, i, NULL, 0, 0, 0); }

static int
pg_bind_index(struct db_stmt *s, const char *name)
{
	return name != NULL ? db_pg_sql_name_index(&PST(s)->info, name) : 0;
}

static int
pg_clear_bindings(struct db_stmt *st)
{
	struct pstmt *s = PST(st);

	pg_result_clear(s);
	for (int i = 0; i < s->info.nparams; i++) {
		free(s->owned[i]);
		s->owned[i] = NULL;
		s->values[i] = NULL;
		s->lengths[i] = s->formats[i] = 0;
		s->types[i] = 0;
	}
	return DB_OK;
}

static int
pg_reset(struct db_stmt *s)
{
	pg_result_clear(PST(s));
	return DB_OK;
}

/* Run the statement with its bindings; DB_OK with s->res kept. */
static int
pg_run(struct pstmt *s)
{
	struct pdb *d = PDB(s->base.db);
	PGresult *r;
	int rc;

	if (!pg_ready(d))
		return DB_ERROR;
	r = PQexecParams(d->conn, s->text, s->info.nparams, s->types, s->values, s->lengths,
	    s->formats, 0);
	if ((rc = pg_result_rc(d, r)) != DB_OK) {
		PQclear(r);
		return rc;
	}
	s->res = r;
	s->row = -1;
	s->ncols = PQnfields(r);
	if (s->ncols > 0) {
		s->dec = calloc((size_t)s->ncols, sizeof(*s->dec));
		s->declen = calloc((size_t)s->ncols, sizeof(*s->declen));
		if (s->dec == NULL || s->declen == NULL) {
			pg_result_clear(s);
			pg_err_set(d, "out of memory");
			return DB_ERROR;
		}
	}
	return DB_OK;
}

/* The next row of the result, running the statement first when it has
 * none; after DB_DONE the next step runs it again (as SQLite's does). */
static int
pg_step(struct db_stmt *st)
{
	struct pstmt *s = PST(st);
	int rc;

	if (s->info.empty)
		return DB_DONE;
	if (s->res != NULL && s->row >= PQntuples(s->res))
		pg_result_clear(s);
	if (s->res == NULL && (rc = pg_run(s)) != DB_OK)
		return rc;
	for (int c = 0; c < s->ncols; c++) {
		free(s->dec[c]);
		s->dec[c] = NULL;
	}
	if (++s->row < PQntuples(s->res))
		return DB_ROW;
	s->row = PQntuples(s->res);
	return DB_DONE;
}

/* The current row's value of col, NULL for SQL NULL or no row. */
static const char *
pg_value(struct pstmt *s, int col)
{
	if (s->res == NULL || s->row < 0 || s->row >= PQntuples(s->res) || col < 0 || col >= s->ncols ||
	    PQgetisnull(s->res, s->row, col))
		return NULL;
	return PQgetvalue(s->res, s->row, col);
}

/* A bytea column's octets, decoded by libpq once per row (hex or escape
 * format) and kept NUL-terminated for column_text. */
static const unsigned char *
pg_bytea(struct pstmt *s, int col, const char *v)
{
	unsigned char *u, *b;
	size_t len = 0;

	if (s->dec[col] != NULL)
		return s->dec[col];
	if ((u = PQunescapeBytea((const unsigned char *)v, &len)) == NULL)
		return NULL;
	if (len < INT32_MAX && (b = malloc(len + 1)) != NULL) {
		memcpy(b, u, len);
		b[len] = '\0';
		s->dec[col] = b;
		s->declen[col] = (int)len;
	}
	PQfreemem(u);
	return s->dec[col];
}

static bool
pg_is_bytea(struct pstmt *s, int col)
{
	return PQftype(s->res, col) == OID_BYTEA;
}

static int pg_column_count(struct db_stmt *s) { return PST(s)->res != NULL ? PST(s)->ncols : 0; }

static enum db_type
pg_column_type(struct db_stmt *st, int col)
{
	struct pstmt *s = PST(st);
	const char *v = pg_value(s, col);

	if (v == NULL)
		return DB_NULL;
	switch (PQftype(s->res, col)) {
	case OID_INT2: case OID_INT4: case OID_INT8: case OID_OID: case OID_BOOL:
		return DB_INTEGER;
	case OID_FLOAT4: case OID_FLOAT8:
		return DB_FLOAT;
	case OID_NUMERIC:
		/* sum() and avg() of bigint are numeric: a whole one reads as
		 * SQLite's sum() of integers does */
		return strpbrk(v, ".eEN") == NULL ? DB_INTEGER : DB_FLOAT;
	case OID_BYTEA:
		return DB_BLOB;
	default:
		return DB_TEXT;
	}
}

/* The text a number is read from: bytea decoded (meta keeps numbers as
 * their decimal octets), a boolean as 1 or 0. */
static const char *
pg_number_text(struct pstmt *s, int col)
{
	const char *v = pg_value(s, col);

	if (v == NULL)
		return NULL;
	if (PQftype(s->res, col) == OID_BOOL)
		return v[0] == 't' ? "1" : "0";
	if (pg_is_bytea(s, col))
		return (const char *)pg_bytea(s, col, v);
	return v;
}

static long long
pg_column_int64(struct db_stmt *st, int col)
{
	const char *v = pg_number_text(PST(st), col);
	char *end;
	long long n;

	if (v == NULL)
		return 0;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (*end == '.' || *end == 'e' || *end == 'E' || errno == ERANGE) {
		/* numeric "12.0", or beyond 64 bits: through double, clamped */
		double f = strtod(v, NULL);

		if (f >= 9.2233720368547758e18)
			return INT64_MAX;
		if (f <= -9.2233720368547758e18)
			return INT64_MIN;
		return (long long)f;
	}
	return n;
}

static double
pg_column_double(struct db_stmt *st, int col)
{
	const char *v = pg_number_text(PST(st), col);

	return v != NULL ? strtod(v, NULL) : 0.0;
}

static const unsigned char *
pg_column_text(struct db_stmt *st, int col)
{
	struct pstmt *s = PST(st);
	const char *v = pg_value(s, col);

	if (v == NULL)
		return NULL;
	if (pg_is_bytea(s, col))
		return pg_bytea(s, col, v);
	if (PQftype(s->res, col) == OID_BOOL)
		return (const unsigned char *)(v[0] == 't' ? "1" : "0");
	return (const unsigned char *)v;
}

static const void *
pg_column_blob(struct db_stmt *s, int col)
{
	return pg_column_text(s, col);
}

static int
pg_column_bytes(struct db_stmt *st, int col)
{
	struct pstmt *s = PST(st);
	const unsigned char *v = pg_column_text(st, col);

	if (v == NULL)
		return 0;
	return pg_is_bytea(s, col) ? s->declen[col] : (int)strlen((const char *)v);
}

static void
pg_close(struct db *db)
{
	db_cache_clear(db);
	PQfinish(PDB(db)->conn);
	free(db);
}

static const struct db_ops pg_ops = {
	.close = pg_close, .errmsg = pg_errmsg, .exec = pg_exec, .changes = pg_changes,
	.last_insert_id = pg_last_insert_id, .prepare = pg_prepare, .finalize = pg_finalize,
	.bind_int64 = pg_bind_int64, .bind_double = pg_bind_double, .bind_text = pg_bind_text,
	.bind_blob = pg_bind_blob, .bind_null = pg_bind_null, .bind_parameter_index = pg_bind_index,
	.step = pg_step, .reset = pg_reset, .clear_bindings = pg_clear_bindings,
	.column_count = pg_column_count, .column_type = pg_column_type, .column_int64 = pg_column_int64,
	.column_double = pg_column_double, .column_text = pg_column_text, .column_blob = pg_column_blob,
	.column_bytes = pg_column_bytes,
};

struct db *
db_pg_connect(const char *conninfo, char *err, size_t errlen)
{
	/* dbname last: what the conninfo says overrides these defaults */
	const char *kw[] = { "connect_timeout", "client_encoding", "application_name", "dbname", NULL };
	const char *val[] = { "5", "UTF8", "ferryd", conninfo, NULL };
	struct pdb *d = calloc(1, sizeof(*d));

	if (d == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	db_init(&d->base, &pg_ops, DB_PG);
	db_uri_redact(conninfo, d->where, sizeof(d->where));
	d->backoff_ms = PG_BACKOFF_MIN_MS;
	d->conn = PQconnectdbParams(kw, val, 1);
	if (d->conn == NULL || PQstatus(d->conn) != CONNECTION_OK || pg_session_setup(d) != 0) {
		if (d->conn != NULL && d->err[0] == '\0')
			pg_err_set(d, PQerrorMessage(d->conn));
		snprintf(err, errlen, "%s: %s", d->where, d->conn != NULL ? d->err : "out of memory");
		PQfinish(d->conn);
		free(d);
		return NULL;
	}
	return &d->base;
}
