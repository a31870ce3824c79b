/*
 * fuzz_control_summary.c - libFuzzer target for the queue summary line of
 * the control socket (src/control/control_summary.c), which ferryctl reads
 * from ferryd. Invariants: the parser never reads past the line; what it
 * accepts has no negative count; formatting an accepted row gives a line
 * within CONTROL_SUMMARY_LINE_MAX that parses back to the same row (a
 * source address too long for the line cut visibly; inputs are kept short
 * enough for the other strings to come back whole).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/control_summary.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static void
row_same(const struct qmgr_summary_row *a, const struct qmgr_summary_row *b)
{
	CHECK(a->kind == b->kind && a->ready == b->ready && a->scheduled == b->scheduled);
	CHECK(a->active == b->active && a->held == b->held && a->conns_open == b->conns_open);
	CHECK(a->conns_busy == b->conns_busy && a->limit == b->limit && a->suspended == b->suspended);
	CHECK(strcmp(a->name, b->name) == 0 && strcmp(a->shaping, b->shaping) == 0);
	/* a source past 128 octets comes back cut, its first 125 and "..." */
	if (strlen(a->source) <= 128)
		CHECK(strcmp(a->source, b->source) == 0);
	else
		CHECK(strlen(b->source) == 128 && strncmp(a->source, b->source, 125) == 0 &&
		    strcmp(b->source + 125, "...") == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qmgr_summary_row row, again;
	char out[CONTROL_SUMMARY_LINE_MAX];
	char *line;
	size_t len;

	if (size >= 1000)          /* fields past the cut would not come back whole */
		return 0;
	line = malloc(size + 1);   /* exactly the line and its NUL: ASan sees overreads */
	memcpy(line, data, size);
	line[size] = '\0';
	for (size_t i = 0; i < size; i++)
		if (((unsigned char)line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f)
			line[i] = '?';     /* ferryctl refuses such lines before parsing */
	if (control_summary_parse(line, &row) == 0) {
		CHECK(row.ready >= 0 && row.scheduled >= 0 && row.active >= 0 && row.held >= 0);
		CHECK(row.conns_open >= 0 && row.conns_busy >= 0 && row.limit >= 0);
		CHECK(row.name[0] != '\0');
		len = control_summary_format(&row, out, sizeof(out));
		CHECK(len > 0 && len < sizeof(out) && out[len - 1] == '\n' && strlen(out) == len);
		out[len - 1] = '\0';
		CHECK(control_summary_parse(out, &again) == 0);
		row_same(&row, &again);
	}
	control_site_name_valid(line);
	free(line);
	return 0;
}
