/*
 * smtp_data.h - incremental reader for message content: DATA (dot-terminated,
 * dot-stuffed) and BDAT chunks (counted, RFC 3030).
 * STANDARDS: RFC 5321 4.1.1.4, 4.5.2 (transparency), 4.5.3.1.6 (line length);
 * RFC 3030 CHUNKING. SMTP smuggling defence (CVE-2023-51764).
 * SECURITY: input is hostile. Content ends only at <CRLF>.<CRLF>; a line
 * that ended with a bare LF never makes the following "." a terminator.
 * Output carries CRLF line endings only: a bare LF is normalised to CRLF (or
 * flagged, per option), a bare CR is flagged and never emitted.
 * The reader can stop anywhere (packet boundaries) and resume.
 */
#ifndef FERRY_SMTP_DATA_H
#define FERRY_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Error flags, sticky for the message. Content is still consumed to the end
 * of the message so the session stays in sync; the caller refuses it then. */
#define SMTP_DATA_ERR_BARE_CR   0x1   /* CR not followed by LF */
#define SMTP_DATA_ERR_BARE_LF   0x2   /* LF without CR, when reject_bare_lf */
#define SMTP_DATA_ERR_LONG_LINE 0x4   /* a line over max_line octets incl. CRLF */
#define SMTP_DATA_ERR_NUL       0x8   /* NUL octet (only when reject_nul) */

struct smtp_data_opts {
	bool   reject_bare_lf;   /* false: bare LF is a line end, stored as CRLF */
	bool   reject_nul;
	size_t max_line;         /* octets including CRLF; 0 = unlimited */
};

/* Sink for normalised output; returns 0, or -1 to report a write failure
 * (the reader then keeps consuming but stops calling the sink and sets
 * write_failed). */
typedef int (*smtp_data_sink_fn)(void *arg, const char *buf, size_t len);

struct smtp_data {
	struct smtp_data_opts opts;
	bool      dot_mode;       /* DATA: unstuff dots, stop at CRLF.CRLF */
	int       state;          /* private to smtp_data.c */
	size_t    linelen;        /* octets in the current output line */
	bool      prev_crlf;      /* previous line ended with a real CRLF */
	unsigned  errors;         /* SMTP_DATA_ERR_* */
	bool      write_failed;
	uint64_t  out_bytes;      /* octets emitted to the sink */
	smtp_data_sink_fn sink;
	void     *sink_arg;
};

/* Start a message. dot_mode true for DATA, false for BDAT chunks. The reader
 * begins at the start of a line (as after "354"), with prev_crlf true. */
void smtp_data_init(struct smtp_data *d, const struct smtp_data_opts *o,
    bool dot_mode, smtp_data_sink_fn sink, void *sink_arg);

/* Consume up to len octets. Returns the number consumed. In dot mode, sets
 * *done and returns early right after the terminating <CRLF>.<CRLF>; the rest
 * of the input (pipelined commands) is left to the caller. In BDAT mode all
 * of the input is consumed and *done is never set. */
size_t smtp_data_feed(struct smtp_data *d, const char *in, size_t len, bool *done);

/* BDAT LAST: end the message. A pending CR at the very end is a bare CR; a
 * final line without line end gets CRLF appended (RFC 3030 leaves it to the
 * server; stored content always ends with CRLF unless empty). */
void smtp_data_finish(struct smtp_data *d);

#endif
