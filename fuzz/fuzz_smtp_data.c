/*
 * fuzz_smtp_data.c - libFuzzer target for the DATA/BDAT content reader.
 * The first octet picks the mode and options; the rest is fed once whole and
 * once in pieces whose sizes come from the input itself. Both runs must
 * agree exactly, and the output must never carry a bare CR or LF.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_data.h"

struct out {
	char  *buf;
	size_t len, cap;
};

static int
sink(void *arg, const char *b, size_t n)
{
	struct out *o = arg;

	if (o->len + n > o->cap) {
		o->cap = (o->len + n) * 2;
		o->buf = realloc(o->buf, o->cap);
		if (o->buf == NULL)
			abort();
	}
	memcpy(o->buf + o->len, b, n);
	o->len += n;
	return 0;
}

struct run {
	struct out out;
	size_t     consumed;
	bool       done;
	unsigned   errors;
};

static void
feed(struct run *r, const uint8_t *in, size_t len, bool dot, const struct smtp_data_opts *o,
    const uint8_t *splits, size_t nsplits)
{
	struct smtp_data d;
	size_t off = 0, k = 0;

	memset(r, 0, sizeof(*r));
	smtp_data_init(&d, o, dot, sink, &r->out);
	while (off < len && !r->done) {
		size_t n = len - off;
		if (nsplits > 0) {
			n = 1 + splits[k++ % nsplits] % 17;
			if (n > len - off)
				n = len - off;
		}
		off += smtp_data_feed(&d, (const char *)in + off, n, &r->done);
	}
	if (!dot)
		smtp_data_finish(&d);
	r->consumed = off;
	r->errors = d.errors;
	if (d.out_bytes != r->out.len)
		abort();
}

static void
check_line_ends(const struct out *o)
{
	for (size_t i = 0; i < o->len; i++) {
		if (o->buf[i] == '\r' && (i + 1 >= o->len || o->buf[i + 1] != '\n'))
			abort();
		if (o->buf[i] == '\n' && (i == 0 || o->buf[i - 1] != '\r'))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_data_opts o;
	struct run a, b;
	bool dot;

	if (size < 1)
		return 0;
	dot = data[0] & 1;
	o.reject_bare_lf = data[0] & 2;
	o.reject_nul = data[0] & 4;
	o.max_line = (data[0] & 8) ? 1000 : (data[0] & 16) ? 8 : 0;
	feed(&a, data + 1, size - 1, dot, &o, NULL, 0);
	feed(&b, data + 1, size - 1, dot, &o, data, size);
	if (a.consumed != b.consumed || a.done != b.done || a.errors != b.errors ||
	    a.out.len != b.out.len || (a.out.len > 0 && memcmp(a.out.buf, b.out.buf, a.out.len) != 0))
		abort();
	if (!dot && a.consumed != size - 1)
		abort();
	check_line_ends(&a.out);
	free(a.out.buf);
	free(b.out.buf);
	return 0;
}
