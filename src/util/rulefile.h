/*
 * rulefile.h - the bounded reader shared by ferry's rules files
 * (shaping.rules, bounce.rules): read a whole regular file of at most a
 * given size, cut it into lines of at most a given length, refuse NUL and
 * control octets, split each line into words (a word in double quotes may
 * hold spaces; "..."i marks it case-insensitive) and hand the words of
 * every line that has some to the file's own parser. Every message names
 * FILE:LINE (or FILE when the file itself cannot be read).
 * SECURITY: the files are the administrator's, still read with explicit
 * lengths: nothing a file holds can grow a buffer past the limits given.
 */
#ifndef FERRY_UTIL_RULEFILE_H
#define FERRY_UTIL_RULEFILE_H

#include <stdbool.h>
#include <stddef.h>

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#define RULEFILE_LINE_LIMIT 8192   /* the largest line_max a reader may ask for */
#define RULEFILE_WORDS_MAX  16     /* the largest words_max */

/* PCRE2 limits for one match of one rule against a reply or a diagnostic
 * of a few kilobytes: far above what a sensible pattern needs, far below
 * what a catastrophic one (nested quantifiers) would take. */
#define RULEFILE_MATCH_LIMIT 100000   /* calls of the internal match() */
#define RULEFILE_DEPTH_LIMIT 5000     /* backtracking depth */
#define RULEFILE_HEAP_LIMIT  1024     /* KiB of backtracking memory */

/* One word of a line: unescaped (\" is a quote inside quotes, every other
 * backslash is kept), NUL-terminated, pointing into the line's buffer: valid
 * until the line callback returns. */
struct rulefile_word {
	char  *s;
	size_t len;
	bool   quoted;
	bool   icase;     /* "..."i */
};

/* One read of one file. Fill name, line_max, words_max, too_many (the end
 * of "too many words (...)"), err and errlen; line counts from 1. */
struct rulefile {
	const char *name;         /* the file, as messages name it */
	size_t      file_max;     /* octets in the file */
	size_t      line_max;     /* octets in a line, without newline (<= RULEFILE_LINE_LIMIT) */
	int         words_max;    /* words in a line (<= RULEFILE_WORDS_MAX) */
	const char *too_many;     /* hint after "too many words", e.g. the line's syntax */
	int         line;         /* of the line being read; 0 before the first */
	char       *err;
	size_t      errlen;
};

/* "NAME:LINE: message" (or "NAME: message" before the first line) in
 * f->err; returns -1. */
int rulefile_fail(struct rulefile *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The whole of f->name, a regular file of at most f->file_max octets
 * (opened O_NONBLOCK: a FIFO named by mistake cannot hang a reload), in a
 * buffer the caller frees; NULL with "NAME: cause" in f->err. */
char *rulefile_read(struct rulefile *f, size_t *len);

/* Each line of text (len octets; a CR before the newline is dropped) that
 * has words, split, to line(f, words, n, arg); '#' at a word's start
 * comments out the rest. Stops at the first error (the callback's, or the
 * reader's: too large, too long, NUL, control character, too many words,
 * bad quoting). 0, or -1 with the message in f->err. */
int rulefile_parse(struct rulefile *f, const char *text, size_t len,
    int (*line)(struct rulefile *f, struct rulefile_word *w, int n, void *arg), void *arg);

/* The fields rules files share (RFC 5321 4.2.1 reply codes, RFC 3463 2
 * enhanced status codes); the callers word the messages. */

/* A number of 1 to max (at most 18) digits from s up to end; -1 if not one. */
long long rulefile_digits(const char *s, const char *end, int max);
/* A NAME word: 1 to max letters, digits, '.', '_' or '-', unquoted. */
bool rulefile_name_valid(const struct rulefile_word *w, size_t max);
/* CODE: "421", a class "42x" or "4xx" (first digit 2-5): the codes *lo to
 * *hi; "*": 0 to 999 (any, an unknown 0 included). 0, or -1. */
int rulefile_code_pattern(const char *s, int *lo, int *hi);
/* STATUS: "4.7.28" into st, a prefix by whole parts ("4.7.*", "4.*"; -1
 * for a part not given), or "*" (st[0] -1: any status, or none). 0, or -1. */
int rulefile_status_pattern(const char *s, int st[3]);
/* TEXT: a quoted regular expression ("..."i: caseless) compiled into *re,
 * or * for any text (*re NULL). 0, or -1 with "FILE:LINE: regular
 * expression ... at offset N: PCRE2's message" in f->err. */
int rulefile_regex_compile(struct rulefile *f, const struct rulefile_word *w, pcre2_code **re);
/* A match context carrying the RULEFILE_*_LIMIT limits (read-only once
 * made, shared by threads); NULL when out of memory. */
pcre2_match_context *rulefile_match_context(void);

#endif
