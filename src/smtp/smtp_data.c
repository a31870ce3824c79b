/*
 * smtp_data.c - incremental reader of message content for DATA (dot-stuffed,
 * ends only at <CRLF>.<CRLF>) and BDAT chunks (counted, RFC 3030).
 * STANDARDS: RFC 5321 4.1.1.4, 4.5.2, 4.5.3.1.6; RFC 3030.
 * SECURITY: the input is hostile and arrives in arbitrary pieces. The state
 * machine below decides line ends itself (never trusting a packet boundary):
 * only CR LF "." CR LF, where the line before also ended in a real CRLF,
 * ends a message (SMTP smuggling, CVE-2023-51764). Output lines always end
 * in CRLF: a bare LF becomes CRLF (or is flagged), a bare CR is dropped and
 * flagged. NUL octets are passed through (flagged when reject_nul).
 * Line length counts the octets of the output line including its CRLF.
 */
#include "smtp/smtp_data.h"

#include <string.h>

enum {
	ST_BOL = 0,   /* at the start of a line */
	ST_DOT,       /* "." at the start of a line, undecided */
	ST_DOT_CR,    /* ".\r" at the start of a line */
	ST_MID,       /* inside a line */
	ST_CR,        /* CR inside a line, waiting for LF */
};

void
smtp_data_init(struct smtp_data *d, const struct smtp_data_opts *o, bool dot_mode,
    smtp_data_sink_fn sink, void *sink_arg)
{
	memset(d, 0, sizeof(*d));
	d->opts = *o;
	d->dot_mode = dot_mode;
	d->state = ST_BOL;
	d->prev_crlf = true;
	d->sink = sink;
	d->sink_arg = sink_arg;
}

static void
data_emit(struct smtp_data *d, const char *buf, size_t len)
{
	d->out_bytes += len;
	if (d->write_failed || len == 0)
		return;
	if (d->sink(d->sink_arg, buf, len) < 0)
		d->write_failed = true;
}

static void
data_line_grow(struct smtp_data *d, size_t n)
{
	d->linelen += n;
	if (d->opts.max_line > 0 && d->linelen > d->opts.max_line)
		d->errors |= SMTP_DATA_ERR_LONG_LINE;
}

/* End the current output line; real says whether the peer sent CRLF. */
static void
data_line_end(struct smtp_data *d, bool real)
{
	if (!real && d->opts.reject_bare_lf)
		d->errors |= SMTP_DATA_ERR_BARE_LF;
	data_line_grow(d, 2);
	data_emit(d, "\r\n", 2);
	d->linelen = 0;
	d->prev_crlf = real;
	d->state = ST_BOL;
}

/* Inside a line: emit the run up to the next CR or LF. Returns consumed. */
static size_t
data_run(struct smtp_data *d, const char *in, size_t len)
{
	size_t i = 0;

	while (i < len && in[i] != '\r' && in[i] != '\n') {
		if (in[i] == '\0' && d->opts.reject_nul)
			d->errors |= SMTP_DATA_ERR_NUL;
		i++;
	}
	if (i > 0) {
		data_line_grow(d, i);
		data_emit(d, in, i);
	}
	if (i < len) {
		if (in[i] == '\r')
			d->state = ST_CR;
		else
			data_line_end(d, false);
		i++;
	}
	return i;
}

/* One step of the machine; returns octets consumed (at least 1). */
static size_t
data_step(struct smtp_data *d, const char *in, size_t len, bool *done)
{
	char c = in[0];

	switch (d->state) {
	case ST_BOL:
		if (d->dot_mode && c == '.') {
			d->state = ST_DOT;
			return 1;
		}
		d->state = ST_MID;
		return data_run(d, in, len);
	case ST_DOT:
		if (c == '\r') {
			d->state = ST_DOT_CR;
			return 1;
		}
		if (c == '\n') {
			/* ".<LF>": never an end of message; kept as content. */
			data_line_grow(d, 1);
			data_emit(d, ".", 1);
			data_line_end(d, false);
			return 1;
		}
		d->state = ST_MID;   /* transparency: drop the leading dot */
		return data_run(d, in, len);
	case ST_DOT_CR:
		if (c == '\n') {
			if (d->prev_crlf) {
				*done = true;
				return 1;
			}
			data_line_grow(d, 1);
			data_emit(d, ".", 1);
			data_line_end(d, true);
			return 1;
		}
		d->errors |= SMTP_DATA_ERR_BARE_CR;
		d->state = ST_MID;
		return data_run(d, in, len);
	case ST_CR:
		if (c == '\n') {
			data_line_end(d, true);
			return 1;
		}
		d->errors |= SMTP_DATA_ERR_BARE_CR;
		d->state = ST_MID;
		return data_run(d, in, len);
	default:
		return data_run(d, in, len);
	}
}

size_t
smtp_data_feed(struct smtp_data *d, const char *in, size_t len, bool *done)
{
	size_t off = 0;
	bool end = false;

	while (off < len && !end)
		off += data_step(d, in + off, len - off, &end);
	if (end && done != NULL)
		*done = true;
	return off;
}

void
smtp_data_finish(struct smtp_data *d)
{
	if (d->state == ST_CR) {
		d->errors |= SMTP_DATA_ERR_BARE_CR;
		d->state = ST_MID;
	}
	if (d->state == ST_MID && d->linelen > 0)
		data_line_end(d, true);
	d->state = ST_BOL;
}
