/*
 * milter_hdr.c - a message's header section as the milter client needs it:
 * split into fields for the HEADER commands, and written back with the
 * filters' edits (add, insert, change, delete) applied.
 * STANDARDS: RFC 5322 2.2 header fields, 2.2.3 folding.
 * SECURITY: the content was accepted from an SMTP client; it is read with
 * explicit lengths and at most MILTER_HDRS_MAX octets of it are kept. Edits
 * were checked by milter_proto.c (no line break that is not a fold).
 */
#include "milter/milter.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xmalloc.h"

/* Read up to the empty line that ends the header section, or the cap. */
static int
milter_hdrs_read(struct milter_hdrs *h, const struct milter_env *env)
{
	size_t cap = env->size < MILTER_HDRS_MAX ? (size_t)env->size : MILTER_HDRS_MAX;

	h->buf = xmalloc(cap + 1);
	h->len = 0;
	while (h->len < cap) {
		size_t want = cap - h->len < 16384 ? cap - h->len : 16384;
		long n = env->read(env->read_arg, h->len, h->buf + h->len, want);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		h->len += (size_t)n;
		if (memmem(h->buf, h->len, "\r\n\r\n", 4) != NULL ||
		    (h->len >= 2 && memcmp(h->buf, "\r\n", 2) == 0))
			break;
	}
	h->buf[h->len] = '\0';
	return 0;
}

/* One field at off: its length through the CRLF of its last folded line,
 * or 0 when the text there is not a complete field. */
static size_t
milter_hdr_field_len(const char *b, size_t len, size_t off, size_t *name_len)
{
	size_t i = off;

	while (i < len && b[i] != ':' && (unsigned char)b[i] > 0x20 && (unsigned char)b[i] < 0x7f)
		i++;
	if (i == off || i >= len || b[i] != ':')
		return 0;
	*name_len = i - off;
	for (;;) {
		const char *crlf = memmem(b + i, len - i, "\r\n", 2);
		if (crlf == NULL)
			return 0;
		i = (size_t)(crlf - b) + 2;
		if (i >= len || (b[i] != ' ' && b[i] != '\t'))
			return i - off;
	}
}

static void
milter_hdr_push(struct milter_hdrs *h, size_t off, size_t flen, size_t name_len, size_t *cap)
{
	struct milter_hdr *f;
	size_t v = off + name_len + 1;

	if (h->n == *cap) {
		*cap = *cap ? *cap * 2 : 32;
		h->v = xrealloc(h->v, *cap * sizeof(*h->v));
	}
	while (v < off + flen - 2 && (h->buf[v] == ' ' || h->buf[v] == '\t'))
		v++;
	f = &h->v[h->n++];
	f->off = off;
	f->len = flen;
	f->name_len = name_len;
	f->value_off = v;
	f->value_len = off + flen - 2 - v;
}

int
milter_hdrs_load(struct milter_hdrs *h, const struct milter_env *env)
{
	size_t off = 0, cap = 0, name_len, flen;

	memset(h, 0, sizeof(*h));
	if (milter_hdrs_read(h, env) < 0)
		return -1;
	while ((flen = milter_hdr_field_len(h->buf, h->len, off, &name_len)) > 0) {
		milter_hdr_push(h, off, flen, name_len, &cap);
		off += flen;
	}
	h->end = off;
	h->body = off;
	if (h->len - off >= 2 && memcmp(h->buf + off, "\r\n", 2) == 0)
		h->body = off + 2;
	return 0;
}

void
milter_hdrs_free(struct milter_hdrs *h)
{
	free(h->buf);
	free(h->v);
	memset(h, 0, sizeof(*h));
}

/* A header field in the rewritten section: an original (orig >= 0) or an
 * edit's name and value. */
struct milter_slot {
	long        orig;
	const char *name, *value;
	bool        gone;
};

static bool
milter_slot_is(const struct milter_hdrs *h, const struct milter_slot *s, const char *name)
{
	size_t n = strlen(name);

	if (s->gone)
		return false;
	if (s->orig < 0)
		return strcasecmp(s->name, name) == 0;
	return h->v[s->orig].name_len == n && strncasecmp(h->buf + h->v[s->orig].off, name, n) == 0;
}

/* CHANGE: the index-th field of that name (1-based; 0 read as 1) gets the
 * value, or goes when it is empty; none that far and a value: added. */
static void
milter_slot_change(const struct milter_hdrs *h, struct milter_slot *v, size_t *n,
    const struct milter_edit *e)
{
	uint32_t want = e->index == 0 ? 1 : e->index, seen = 0;

	for (size_t i = 0; i < *n; i++) {
		if (!milter_slot_is(h, &v[i], e->name) || ++seen != want)
			continue;
		if (e->value[0] == '\0')
			v[i].gone = true;
		else
			v[i] = (struct milter_slot){ .orig = -1, .name = e->name, .value = e->value };
		return;
	}
	if (e->value[0] != '\0')
		v[(*n)++] = (struct milter_slot){ .orig = -1, .name = e->name, .value = e->value };
}

static void
milter_slots_apply(const struct milter_hdrs *h, struct milter_slot *v, size_t *n,
    const struct milter_edit *e, size_t ne)
{
	for (size_t k = 0; k < ne; k++) {
		struct milter_slot add = { .orig = -1, .name = e[k].name, .value = e[k].value };
		size_t at = *n;
		if (e[k].kind == MILTER_EDIT_CHANGE) {
			milter_slot_change(h, v, n, &e[k]);
			continue;
		}
		if (e[k].kind == MILTER_EDIT_INSERT && e[k].index < *n)
			at = e[k].index;
		memmove(&v[at + 1], &v[at], (*n - at) * sizeof(*v));
		v[at] = add;
		(*n)++;
	}
}

/* "Name: value\r\n", a folded value's bare LFs made CRLF. */
static int
milter_slot_write(const struct milter_slot *s, int (*write)(void *, const void *, size_t), void *arg)
{
	const char *p = s->value;

	if (write(arg, s->name, strlen(s->name)) < 0 || write(arg, ": ", 2) < 0)
		return -1;
	while (*p) {
		size_t run = strcspn(p, "\r\n");
		if (write(arg, p, run) < 0)
			return -1;
		p += run;
		if (*p == '\r')
			p++;
		if (*p == '\n') {
			if (write(arg, "\r\n", 2) < 0)
				return -1;
			p++;
		}
	}
	return write(arg, "\r\n", 2);
}

int
milter_hdrs_write(const struct milter_hdrs *h, const struct milter_edit *e, size_t ne,
    size_t skip, int (*write)(void *arg, const void *buf, size_t len), void *arg)
{
	struct milter_slot *v = xcalloc(h->n + ne + 1, sizeof(*v));
	size_t n = h->n;
	int rc = 0;

	for (size_t i = 0; i < h->n; i++)
		v[i].orig = (long)i;
	milter_slots_apply(h, v, &n, e, ne);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (v[i].gone || (v[i].orig >= 0 && (size_t)v[i].orig < skip))
			continue;
		if (v[i].orig >= 0)
			rc = write(arg, h->buf + h->v[v[i].orig].off, h->v[v[i].orig].len);
		else
			rc = milter_slot_write(&v[i], write, arg);
	}
	free(v);
	return rc < 0 ? -1 : 0;
}
