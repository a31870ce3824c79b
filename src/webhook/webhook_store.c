/*
 * webhook_store.c - the webhooks table (webhook_store.h): checks of what a
 * tenant gives (URL, event kinds), the secret, and the rows themselves.
 * SECURITY: every value is bound; URLs are refused unless http(s) with a
 * host and printable ASCII only, so none can carry a header or log
 * injection. The secret comes from the system's CSPRNG (libsodium).
 */
#include "webhook/webhook_store.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "state/events.h"
#include "state/state_internal.h"

/* The kinds an endpoint may ask for: every kind (events.h). */
#define webhook_kinds event_kinds
#define WEBHOOK_NKINDS event_nkinds

static int
webhook_fail(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return -1;
}

int
webhook_url_check(const char *url, char *err, size_t errlen)
{
	size_t n = strlen(url), skip;
	const char *host;

	if (n > WEBHOOK_URL_MAX)
		return webhook_fail(err, errlen, "URL too long (at most 2048 octets)");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
			return webhook_fail(err, errlen, "URL has a space, a control or a non-ASCII octet");
	if (strncasecmp(url, "https://", 8) == 0)
		skip = 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		skip = 7;
	else
		return webhook_fail(err, errlen, "URL must start with https:// or http://");
	host = url + skip;
	if (strchr(host, '@') != NULL && strchr(host, '@') < host + strcspn(host, "/?#"))
		host = strchr(host, '@') + 1;
	if (host[0] == '\0' || strchr("/?#:", host[0]) != NULL)
		return webhook_fail(err, errlen, "URL has no host");
	return 0;
}

static const char *
webhook_kind_find(const char *s, size_t len)
{
	for (size_t i = 0; i < WEBHOOK_NKINDS; i++)
		if (strlen(webhook_kinds[i]) == len && strncmp(webhook_kinds[i], s, len) == 0)
			return webhook_kinds[i];
	return NULL;
}

/* "unknown event type 'x' (known: received, ...)": 0 or -1 + err. */
static int
webhook_kind_unknown(const char *s, size_t len, char *err, size_t errlen)
{
	size_t used;
	int n = snprintf(err, errlen, "unknown event type '%.*s' (known:", (int)(len > 64 ? 64 : len), s);

	used = n > 0 ? (size_t)n : 0;
	for (size_t i = 0; i < WEBHOOK_NKINDS && used < errlen; i++) {
		n = snprintf(err + used, errlen - used, " %s%s", webhook_kinds[i],
		    i + 1 < WEBHOOK_NKINDS ? "," : ")");
		used += n > 0 ? (size_t)n : 0;
	}
	return -1;
}

int
webhook_events_norm(const char *in, char *out, size_t outsz, char *err, size_t errlen)
{
	bool want[EVENT_KINDS_MAX] = { false };
	size_t used = 0;

	out[0] = '\0';
	if (in == NULL || in[0] == '\0' || strcmp(in, "all") == 0)
		return 0;
	for (const char *p = in; *p != '\0';) {
		size_t len = strcspn(p, ",");
		const char *k;
		while (len > 0 && *p == ' ')
			p++, len--;
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if ((k = webhook_kind_find(p, len)) == NULL)
			return webhook_kind_unknown(p, len, err, errlen);
		/* stored in the table's order, each once */
		for (size_t i = 0; i < WEBHOOK_NKINDS; i++)
			if (webhook_kinds[i] == k)
				want[i] = true;
		p += strcspn(p, ",");
		if (*p == ',')
			p++;
	}
	for (size_t i = 0; i < WEBHOOK_NKINDS; i++) {
		int n;
		if (!want[i])
			continue;
		n = snprintf(out + used, outsz - used, "%s%s", used ? "," : "", webhook_kinds[i]);
		if (n < 0 || (size_t)n >= outsz - used)
			return webhook_fail(err, errlen, "event list too long");
		used += (size_t)n;
	}
	return 0;
}

bool
webhook_events_match(const char *events, const char *kind)
{
	size_t klen = strlen(kind);

	if (events[0] == '\0')
		return true;
	for (const char *p = events; *p != '\0';) {
		size_t len = strcspn(p, ",");
		if (len == klen && strncmp(p, kind, len) == 0)
			return true;
		p += len;
		if (*p == ',')
			p++;
	}
	return false;
}

const char *
webhook_url_redact(const char *url, char *out, size_t outsz)
{
	const char *auth = strstr(url, "://"), *at, *end;

	if (auth == NULL) {
		snprintf(out, outsz, "%s", url);
		return out;
	}
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	at = memchr(auth, '@', (size_t)(end - auth));
	if (at == NULL) {
		snprintf(out, outsz, "%s", url);
		return out;
	}
	/* the last '@' before the path ends the userinfo */
	for (const char *q = at; q < end; q++)
		if (*q == '@')
			at = q;
	snprintf(out, outsz, "%.*s%s", (int)(auth - url), url, at + 1);
	return out;
}

const char *
webhook_url_origin(const char *url, char *out, size_t outsz)
{
	const char *host = strstr(url, "://"), *end, *at;

	if (host == NULL) {
		snprintf(out, outsz, "?");
		return out;
	}
	host += 3;
	end = host + strcspn(host, "/?#");
	for (at = host; at < end; at++)       /* skip any userinfo: the last '@' ends it */
		if (*at == '@')
			host = at + 1;
	snprintf(out, outsz, "%.*s%.*s", (int)(strstr(url, "://") + 3 - url), url, (int)(end - host), host);
	return out;
}

/* ---- rows ----------------------------------------------------------------------- */

#define WEBHOOK_COLS "w.id, w.tenant_id, t.name, w.url, w.secret, w.events, w.cursor, w.created," \
	" w.failures, w.next_try, w.failing_since, w.last_error"

static void
webhook_row_read(struct db_stmt *stmt, bool with_secret, struct webhook *w)
{
	memset(w, 0, sizeof(*w));
	w->id = db_column_int64(stmt, 0);
	w->tenant_id = db_column_int64(stmt, 1);
	state_text_copy(w->tenant, sizeof(w->tenant), stmt, 2);
	state_text_copy(w->url, sizeof(w->url), stmt, 3);
	if (with_secret)
		state_text_copy(w->secret, sizeof(w->secret), stmt, 4);
	state_text_copy(w->events, sizeof(w->events), stmt, 5);
	w->cursor = db_column_int64(stmt, 6);
	w->created = (time_t)db_column_int64(stmt, 7);
	w->failures = db_column_int64(stmt, 8);
	w->next_try = (time_t)db_column_int64(stmt, 9);
	w->failing_since = (time_t)db_column_int64(stmt, 10);
	state_text_copy(w->last_error, sizeof(w->last_error), stmt, 11);
}

static void
webhook_secret_make(char out[WEBHOOK_SECRET_LEN + 1])
{
	unsigned char r[32];

	randombytes_buf(r, sizeof(r));
	memcpy(out, WEBHOOK_SECRET_PREFIX, 6);
	sodium_bin2hex(out + 6, 65, r, sizeof(r));
	sodium_memzero(r, sizeof(r));
}

/* How many endpoints tenant_id has: n or -1. */
static long long
webhook_count(struct state *st, long long tenant_id)
{
	struct db_stmt *stmt = state_prepare(st, "SELECT COUNT(*) FROM webhooks WHERE tenant_id = ?1;");
	long long n = -1;

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, tenant_id);
	if (db_step(stmt) == DB_ROW)
		n = db_column_int64(stmt, 0);
	state_stmt_done(stmt);
	return n;
}

static int
webhook_insert(struct state *st, long long tenant_id, const char *url, const char *events,
    const char *secret, long long *id)
{
	/* the cursor starts at the newest event: an endpoint gets what
	 * happens from now on, not the tenant's past 90 days */
	struct db_stmt *stmt = state_prepare(st, "INSERT INTO webhooks(tenant_id, url, secret, events,"
	    " cursor, created) VALUES (?1, ?2, ?3, ?4, (SELECT COALESCE(MAX(id), 0) FROM events), ?5);");
	int rc;

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, tenant_id);
	db_bind_text(stmt, 2, url, -1);
	db_bind_text(stmt, 3, secret, -1);
	db_bind_text(stmt, 4, events, -1);
	db_bind_int64(stmt, 5, (long long)time(NULL));
	rc = db_step(stmt);
	state_stmt_done(stmt);
	if (rc != DB_DONE)
		return -1;
	*id = db_last_insert_id(state_db(st));
	return 0;
}

int
webhook_add(struct state *st, long long tenant_id, const char *url, const char *events,
    struct webhook *w, char *err, size_t errlen)
{
	char norm[WEBHOOK_EVENTS_MAX + 1], secret[WEBHOOK_SECRET_LEN + 1];
	long long id, n;
	int rc;

	if (webhook_url_check(url, err, errlen) < 0 ||
	    webhook_events_norm(events, norm, sizeof(norm), err, errlen) < 0)
		return -1;
	if ((n = webhook_count(st, tenant_id)) < 0)
		return webhook_fail(err, errlen, "cannot read the webhooks table");
	if (n >= WEBHOOK_PER_TENANT_MAX)
		return webhook_fail(err, errlen, "too many webhooks for this tenant (at most 20)");
	webhook_secret_make(secret);
	rc = webhook_insert(st, tenant_id, url, norm, secret, &id);
	if (rc == 0 && webhook_get(st, id, tenant_id, true, w) != 1)
		rc = -1;
	sodium_memzero(secret, sizeof(secret));
	if (rc < 0)
		return webhook_fail(err, errlen, "cannot write the webhooks table (no such tenant?)");
	return 0;
}

/* sql prepared with ?1 = id, ?2 = tenant_id bound; NULL on error. */
static struct db_stmt *
webhook_prepare_id(struct state *st, const char *sql, long long id, long long tenant_id)
{
	struct db_stmt *stmt = state_prepare(st, sql);

	if (stmt != NULL) {
		db_bind_int64(stmt, 1, id);
		db_bind_int64(stmt, 2, tenant_id);
	}
	return stmt;
}

int
webhook_get(struct state *st, long long id, long long tenant_id, bool with_secret, struct webhook *w)
{
	struct db_stmt *stmt = webhook_prepare_id(st, "SELECT " WEBHOOK_COLS " FROM webhooks w"
	    " JOIN tenants t ON t.id = w.tenant_id WHERE w.id = ?1 AND (?2 = 0 OR w.tenant_id = ?2);",
	    id, tenant_id);
	int rc;

	if (stmt == NULL)
		return -1;
	rc = db_step(stmt);
	if (rc == DB_ROW)
		webhook_row_read(stmt, with_secret, w);
	state_stmt_done(stmt);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

int
webhook_list(struct state *st, long long tenant_id, bool with_secret, webhook_fn fn, void *arg)
{
	struct db_stmt *stmt = state_prepare(st, "SELECT " WEBHOOK_COLS " FROM webhooks w"
	    " JOIN tenants t ON t.id = w.tenant_id WHERE (?1 = 0 OR w.tenant_id = ?1) ORDER BY w.id;");
	struct webhook w;
	int rc, n = 0;

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, tenant_id);
	while ((rc = db_step(stmt)) == DB_ROW) {
		webhook_row_read(stmt, with_secret, &w);
		fn(arg, &w);
		n++;
	}
	state_stmt_done(stmt);
	sodium_memzero(w.secret, sizeof(w.secret));
	return rc == DB_DONE ? n : -1;
}

int
webhook_del(struct state *st, long long id, long long tenant_id)
{
	struct db_stmt *stmt = webhook_prepare_id(st, "DELETE FROM webhooks WHERE id = ?1"
	    " AND (?2 = 0 OR tenant_id = ?2);", id, tenant_id);
	int rc;

	if (stmt == NULL)
		return -1;
	rc = db_step(stmt);
	state_stmt_done(stmt);
	if (rc != DB_DONE)
		return -1;
	return db_changes(state_db(st)) > 0 ? 1 : 0;
}

int
webhook_progress_save(struct state *st, const struct webhook *w)
{
	struct db_stmt *stmt = state_prepare(st, "UPDATE webhooks SET cursor = ?2, failures = ?3,"
	    " next_try = ?4, failing_since = ?5, last_error = ?6 WHERE id = ?1;");
	int rc;

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, w->id);
	db_bind_int64(stmt, 2, w->cursor);
	db_bind_int64(stmt, 3, w->failures);
	db_bind_int64(stmt, 4, (long long)w->next_try);
	db_bind_int64(stmt, 5, (long long)w->failing_since);
	db_bind_text(stmt, 6, w->last_error, -1);
	rc = db_step(stmt);
	state_stmt_done(stmt);
	return rc == DB_DONE ? 0 : -1;
}
