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

#define RULEFILE_LINE_LIMIT 8192   /* the largest line_max a reader may ask for */
#define RULEFILE_WORDS_MAX  16     /* the largest words_max */

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

#endif
