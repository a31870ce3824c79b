/*
 * db_pg_sql.c - the SQLite-to-PostgreSQL translation of db_pg.h: one pass
 * over the text, literals, quoted identifiers and comments copied whole,
 * keywords compared as whole words (case-insensitive). The rewrites are
 * the few the state code needs (db.h), not a general SQL converter.
 * Trusts nothing: every write is bounded, overflow is an error.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db/db_pg.h"

struct pgx {
	const char       *p;          /* the input cursor */
	char             *out;
	size_t            len, cap;
	bool              overflow;
	struct db_pg_sql *info;
	size_t            code_end;   /* out length after the statement's last code token */
	bool              stmt_start, skipping, conflict;
	char             *err;
	size_t            errlen;
	int               failed;
};

static void
pgx_put(struct pgx *x, const char *s, size_t n)
{
	if (x->overflow || n >= x->cap - x->len) {
		x->overflow = true;
		return;
	}
	memcpy(x->out + x->len, s, n);
	x->len += n;
	x->out[x->len] = '\0';
}

/* Insert s at pos (before a comment or blanks that end the statement). */
static void
pgx_insert(struct pgx *x, size_t pos, const char *s)
{
	size_t n = strlen(s);

	if (x->overflow || n >= x->cap - x->len) {
		x->overflow = true;
		return;
	}
	memmove(x->out + pos + n, x->out + pos, x->len - pos + 1);
	memcpy(x->out + pos, s, n);
	x->len += n;
}

static int
pgx_fail(struct pgx *x, const char *why)
{
	if (!x->failed)
		snprintf(x->err, x->errlen, "%s", why);
	x->failed = 1;
	return -1;
}

static bool is_word0(char c) { return isalpha((unsigned char)c) || c == '_'; }
static bool is_word(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* Length of the word at s (0 when none). */
static size_t
word_len(const char *s)
{
	size_t n = 0;

	if (!is_word0(s[0]))
		return 0;
	while (is_word(s[n]))
		n++;
	return n;
}

static bool
word_is(const char *s, size_t n, const char *kw)
{
	return strlen(kw) == n && strncasecmp(s, kw, n) == 0;
}

/* The word after blanks from s: its start (NULL when none) and length. */
static const char *
word_next(const char *s, size_t *n)
{
	while (isspace((unsigned char)*s))
		s++;
	*n = word_len(s);
	return *n > 0 ? s : NULL;
}

/* Drop blanks at the end of the output (before a removed clause). */
static void
pgx_trim(struct pgx *x)
{
	while (x->len > 0 && isspace((unsigned char)x->out[x->len - 1]) && x->len > x->code_end)
		x->len--;
	if (x->cap > 0)
		x->out[x->len] = '\0';
}

/* Copy a quoted run ('...' or "...") or comment whole; its end or the input's. */
static void
pgx_copy_until(struct pgx *x, size_t skip, const char *end)
{
	const char *s = x->p, *e = strstr(s + skip, end);
	size_t n = e != NULL ? (size_t)(e - s) + strlen(end) : strlen(s);

	if (!x->skipping)
		pgx_put(x, s, n);
	x->p = s + n;
}

static void
pgx_param_emit(struct pgx *x, int n)
{
	char num[16];

	if (n > x->info->nparams)
		x->info->nparams = n;
	snprintf(num, sizeof(num), "$%d", n);
	pgx_put(x, num, strlen(num));
	x->code_end = x->len;
}

/* ?, ?N */
static void
pgx_question(struct pgx *x)
{
	const char *s = x->p + 1;
	long n = 0;

	if (!isdigit((unsigned char)*s)) {
		n = x->info->nparams + 1;
	} else {
		while (isdigit((unsigned char)*s) && n <= DB_PG_PARAMS_MAX)
			n = n * 10 + (*s++ - '0');
		while (isdigit((unsigned char)*s))
			s++;
	}
	x->p = s;
	if (n < 1 || n > DB_PG_PARAMS_MAX) {
		pgx_fail(x, "parameter number out of range");
		return;
	}
	if (!x->skipping)
		pgx_param_emit(x, (int)n);
}

/* :name (a :: cast is copied) */
static void
pgx_named(struct pgx *x)
{
	struct db_pg_sql *in = x->info;
	size_t n = word_len(x->p + 1);
	int k;

	if (x->skipping) {            /* in a PRAGMA: dropped, numbers nothing */
		x->p += 1 + n;
		return;
	}
	if (n + 2 > DB_PG_NAME_LEN) {
		pgx_fail(x, "parameter name too long");
		x->p += 1 + n;
		return;
	}
	for (k = 0; k < in->nnames; k++)
		if (strncmp(in->names[k] + 1, x->p + 1, n) == 0 && in->names[k][n + 1] == '\0')
			break;
	if (k == in->nnames) {
		if (in->nnames == DB_PG_NAMES_MAX || in->nparams == DB_PG_PARAMS_MAX) {
			pgx_fail(x, "too many named parameters");
			x->p += 1 + n;
			return;
		}
		memcpy(in->names[k], x->p, n + 1);
		in->names[k][n + 1] = '\0';
		in->name_index[k] = in->nparams + 1;
		in->nnames++;
	}
	x->p += 1 + n;
	pgx_param_emit(x, in->name_index[k]);
}

/* End of a statement (its ; or the input's end): close INSERT OR IGNORE. */
static void
pgx_stmt_end(struct pgx *x)
{
	if (x->conflict)
		pgx_insert(x, x->code_end, " ON CONFLICT DO NOTHING");
	x->conflict = false;
	x->stmt_start = true;
}

/* A word: the keywords rewritten, any other copied. */
static void
pgx_word(struct pgx *x)
{
	const char *w = x->p, *nx;
	size_t n = word_len(w), nn;
	bool start = x->stmt_start;

	x->p += n;
	x->stmt_start = false;
	if (x->skipping)
		return;
	if (start && word_is(w, n, "PRAGMA")) {
		x->skipping = true;
		return;
	}
	nx = word_next(x->p, &nn);
	if ((word_is(w, n, "WITHOUT") && nx != NULL && word_is(nx, nn, "ROWID")) ||
	    (word_is(w, n, "COLLATE") && nx != NULL && word_is(nx, nn, "NOCASE"))) {
		pgx_trim(x);
		x->p = nx + nn;
		return;
	}
	pgx_put(x, w, n);
	x->code_end = x->len;
	if (start && word_is(w, n, "BEGIN") && nx != NULL &&
	    (word_is(nx, nn, "IMMEDIATE") || word_is(nx, nn, "DEFERRED") || word_is(nx, nn, "EXCLUSIVE")))
		x->p = nx + nn;
	else if (start && word_is(w, n, "INSERT") && nx != NULL && word_is(nx, nn, "OR")) {
		const char *ig = word_next(nx + nn, &nn);

		if (ig != NULL && word_is(ig, nn, "IGNORE")) {
			x->p = ig + nn;
			x->conflict = true;
		}
	}
}

static void
pgx_char(struct pgx *x)
{
	char c = *x->p;

	if (c == ';') {
		x->p++;
		if (x->skipping) {
			x->skipping = false;
			x->stmt_start = true;
			return;
		}
		pgx_stmt_end(x);
		pgx_put(x, ";", 1);
		x->code_end = x->len;
		return;
	}
	if (!x->skipping) {
		pgx_put(x, x->p, 1);
		if (!isspace((unsigned char)c)) {
			x->code_end = x->len;
			x->stmt_start = false;
		}
	}
	x->p++;
}

int
db_pg_translate(const char *sql, char *out, size_t outlen, struct db_pg_sql *info,
    char *err, size_t errlen)
{
	struct pgx x = { .p = sql, .out = out, .cap = outlen, .info = info, .stmt_start = true,
	    .err = err, .errlen = errlen };

	memset(info, 0, sizeof(*info));
	if (outlen == 0)
		return pgx_fail(&x, "no room for the translated SQL");
	out[0] = '\0';
	while (*x.p != '\0' && !x.failed && !x.overflow) {
		const char *p = x.p;

		if (*p == '\'')
			pgx_copy_until(&x, 1, "'");
		else if (*p == '"')
			pgx_copy_until(&x, 1, "\"");
		else if (p[0] == '-' && p[1] == '-')
			pgx_copy_until(&x, 2, "\n");
		else if (p[0] == '/' && p[1] == '*')
			pgx_copy_until(&x, 2, "*/");
		else if (*p == '?')
			pgx_question(&x);
		else if (p[0] == ':' && p[1] == ':') {
			if (!x.skipping)
				pgx_put(&x, "::", 2);
			x.p += 2;
		} else if (p[0] == ':' && is_word0(p[1]))
			pgx_named(&x);
		else if (is_word0(*p))
			pgx_word(&x);
		else if (is_word(*p)) {
			/* a number or a word's tail starting with a digit: copied whole */
			size_t n = 0;

			while (is_word(p[n]))
				n++;
			if (!x.skipping) {
				pgx_put(&x, p, n);
				x.code_end = x.len;
				x.stmt_start = false;
			}
			x.p += n;
		} else
			pgx_char(&x);
	}
	if (!x.failed && !x.skipping)
		pgx_stmt_end(&x);
	if (x.overflow)
		pgx_fail(&x, "translated SQL too long");
	if (x.failed) {
		out[0] = '\0';
		return -1;
	}
	info->empty = true;
	for (const char *s = out; *s != '\0'; s++)
		if (!isspace((unsigned char)*s) && *s != ';')
			info->empty = false;
	return 0;
}

int
db_pg_sql_name_index(const struct db_pg_sql *info, const char *name)
{
	for (int k = 0; k < info->nnames; k++)
		if (strcmp(info->names[k], name) == 0)
			return info->name_index[k];
	return 0;
}
