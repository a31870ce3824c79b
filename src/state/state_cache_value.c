/*
 * state_cache_value.c - the values of the state cache (state_cache.h) as
 * compact text: a tag with the format's version ("i1", "s1"), then "-"
 * (no such thing) or "+" and space-separated fields; numbers in decimal,
 * text as LEN:OCTETS so no separator or quoting is ever needed.
 * SECURITY: a value comes back from Redis, a server trusted by the
 * administrator but shared: it is parsed with a sticky-error cursor and
 * fixed maximums, and anything else (an older format too) is refused, so
 * the caller reads the database instead.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "state/state_cache.h"

/* ---- writing ---------------------------------------------------------------- */

struct scv_out {
	char  *p;
	size_t size, len;
	bool   bad;      /* did not fit */
};

static void
scv_printf(struct scv_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->bad)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->p + o->len, o->size - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->size - o->len)
		o->bad = true;
	else
		o->len += (size_t)n;
}

static void
scv_text(struct scv_out *o, const char *s)
{
	size_t n = strlen(s);

	scv_printf(o, " %zu:%.*s", n, (int)n, s);
}

static void
scv_limits(struct scv_out *o, const struct state_limits *l)
{
	scv_printf(o, " %lld %lld %lld %lld", l->per_minute, l->per_hour, l->per_day, l->rcpts);
}

static size_t
scv_done(struct scv_out *o)
{
	return o->bad ? 0 : o->len;
}

size_t
state_cache_ident_format(char *out, size_t outsz, const struct state_ident *id, bool found)
{
	struct scv_out o = { out, outsz, 0, outsz == 0 };

	if (!found) {
		scv_printf(&o, "i1 -");
		return scv_done(&o);
	}
	scv_printf(&o, "i1 + %d", id->suspended ? 1 : 0);
	scv_limits(&o, &id->tenant_limits);
	scv_limits(&o, &id->subject_limits);
	scv_text(&o, id->tenant);
	scv_text(&o, id->suspend_reason);
	scv_text(&o, id->pool);
	return scv_done(&o);
}

size_t
state_cache_sup_format(char *out, size_t outsz, const struct suppression *s)
{
	struct scv_out o = { out, outsz, 0, outsz == 0 };

	if (s == NULL) {
		scv_printf(&o, "s1 -");
		return scv_done(&o);
	}
	scv_printf(&o, "s1 + %d %lld %lld", (int)s->reason, (long long)s->time, (long long)s->expires);
	scv_text(&o, s->cause);
	return scv_done(&o);
}

/* ---- reading ---------------------------------------------------------------- */

struct scv_in {
	const char *p;
	size_t      left;
	bool        bad;     /* sticky: once set, every read fails */
};

/* The literal lit next. */
static void
scv_lit(struct scv_in *c, const char *lit)
{
	size_t n = strlen(lit);

	if (c->bad || c->left < n || memcmp(c->p, lit, n) != 0) {
		c->bad = true;
		return;
	}
	c->p += n;
	c->left -= n;
}

/* " " then a decimal integer (optional '-', 1 to 18 digits) within [min, max]. */
static long long
scv_int(struct scv_in *c, long long min, long long max)
{
	long long v = 0;
	bool neg = false;
	size_t digits = 0;

	scv_lit(c, " ");
	if (c->bad)
		return 0;
	if (c->left > 0 && *c->p == '-') {
		neg = true;
		c->p++;
		c->left--;
	}
	while (c->left > 0 && *c->p >= '0' && *c->p <= '9' && digits < 18) {
		v = v * 10 + (*c->p - '0');
		c->p++;
		c->left--;
		digits++;
	}
	if (neg)
		v = -v;
	if (digits == 0 || (c->left > 0 && *c->p >= '0' && *c->p <= '9') || v < min || v > max) {
		c->bad = true;
		return 0;
	}
	return v;
}

/* " LEN:OCTETS" into dst (size dstsz, NUL-terminated); no NUL inside. */
static void
scv_str(struct scv_in *c, char *dst, size_t dstsz)
{
	long long n = scv_int(c, 0, (long long)dstsz - 1);

	scv_lit(c, ":");
	if (c->bad || c->left < (size_t)n || memchr(c->p, '\0', (size_t)n) != NULL) {
		c->bad = true;
		return;
	}
	memcpy(dst, c->p, (size_t)n);
	dst[n] = '\0';
	c->p += n;
	c->left -= (size_t)n;
}

static void
scv_limits_read(struct scv_in *c, struct state_limits *l)
{
	l->per_minute = scv_int(c, 0, INT64_MAX / 16);
	l->per_hour = scv_int(c, 0, INT64_MAX / 16);
	l->per_day = scv_int(c, 0, INT64_MAX / 16);
	l->rcpts = scv_int(c, 0, INT64_MAX / 16);
}

/* "+" (1) or "-" (0) after the tag; -1 for anything else. */
static int
scv_head(struct scv_in *c, const char *tag)
{
	scv_lit(c, tag);
	if (!c->bad && c->left == 2 && memcmp(c->p, " -", 2) == 0)
		return 0;
	scv_lit(c, " +");
	return c->bad ? -1 : 1;
}

int
state_cache_ident_parse(const char *v, size_t len, struct state_ident *id)
{
	struct scv_in c = { v, len, false };
	struct state_ident t;
	int rc = scv_head(&c, "i1");

	if (rc <= 0)
		return rc;
	memset(&t, 0, sizeof(t));
	t.suspended = scv_int(&c, 0, 1) != 0;
	scv_limits_read(&c, &t.tenant_limits);
	scv_limits_read(&c, &t.subject_limits);
	scv_str(&c, t.tenant, sizeof(t.tenant));
	scv_str(&c, t.suspend_reason, sizeof(t.suspend_reason));
	scv_str(&c, t.pool, sizeof(t.pool));
	if (c.bad || c.left != 0)
		return -1;
	id->suspended = t.suspended;
	id->tenant_limits = t.tenant_limits;
	id->subject_limits = t.subject_limits;
	memcpy(id->tenant, t.tenant, sizeof(id->tenant));
	memcpy(id->suspend_reason, t.suspend_reason, sizeof(id->suspend_reason));
	memcpy(id->pool, t.pool, sizeof(id->pool));
	return 1;
}

size_t
state_cache_key_format(char *out, size_t outsz, long long key_id, const unsigned char hash[32],
    const struct state_ident *id, bool found)
{
	struct scv_out o = { out, outsz, 0, outsz == 0 };
	size_t n;

	if (!found) {
		scv_printf(&o, "k1 -");
		return scv_done(&o);
	}
	scv_printf(&o, "k1 + %lld %lld ", id->tenant_id, key_id);
	for (int i = 0; i < 32; i++)
		scv_printf(&o, "%02x", hash[i]);
	scv_printf(&o, " ");
	if (o.bad || (n = state_cache_ident_format(out + o.len, outsz - o.len, id, true)) == 0)
		return 0;
	return o.len + n;
}

/* 64 lowercase hex digits into 32 octets. */
static void
scv_hex32(struct scv_in *c, unsigned char out[32])
{
	static const char digits[] = "0123456789abcdef";

	if (c->bad || c->left < 64) {
		c->bad = true;
		return;
	}
	for (int i = 0; i < 64; i++) {
		const char *d = c->p[i] != '\0' ? strchr(digits, c->p[i]) : NULL;
		if (d == NULL) {
			c->bad = true;
			return;
		}
		if (i % 2 == 0)
			out[i / 2] = (unsigned char)((d - digits) << 4);
		else
			out[i / 2] |= (unsigned char)(d - digits);
	}
	c->p += 64;
	c->left -= 64;
}

int
state_cache_key_parse(const char *v, size_t len, long long *key_id, unsigned char hash[32],
    struct state_ident *id)
{
	struct scv_in c = { v, len, false };
	unsigned char h[32];
	long long tid, kid;
	int rc = scv_head(&c, "k1");

	if (rc <= 0)
		return rc;
	tid = scv_int(&c, 1, INT64_MAX / 16);
	kid = scv_int(&c, 1, INT64_MAX / 16);
	scv_lit(&c, " ");
	scv_hex32(&c, h);
	scv_lit(&c, " ");
	if (c.bad || state_cache_ident_parse(c.p, c.left, id) != 1)
		return -1;
	id->tenant_id = tid;
	*key_id = kid;
	memcpy(hash, h, sizeof(h));
	return 1;
}

int
state_cache_sup_parse(const char *v, size_t len, const char *addr, struct suppression *s)
{
	struct scv_in c = { v, len, false };
	struct suppression t;
	int rc = scv_head(&c, "s1");

	if (rc <= 0)
		return rc;
	memset(&t, 0, sizeof(t));
	t.reason = (enum suppress_reason)scv_int(&c, 0, SUPPRESS_REASONS - 1);
	t.time = (time_t)scv_int(&c, 0, INT64_MAX / 16);
	t.expires = (time_t)scv_int(&c, 0, INT64_MAX / 16);
	scv_str(&c, t.cause, sizeof(t.cause));
	if (c.bad || c.left != 0 || strlen(addr) > SUPPRESS_ADDR_MAX)
		return -1;
	if (s != NULL) {
		t.addr[0] = '\0';
		strncat(t.addr, addr, SUPPRESS_ADDR_MAX);
		*s = t;
	}
	return 1;
}
