/*
 * fuzz_csv.c - libFuzzer target for the CSV record reader (src/util/csv.c,
 * behind `ferryctl suppression import`): the input is a whole file.
 * Invariants: reading ends (every call consumes input or reports the end),
 * a record has 1..CSV_FIELDS_MAX fields, each inside buf and terminated
 * there, line numbers only grow, a refused record says why; never a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/csv.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct csv_reader c;
	long last = 1;
	size_t calls = 0;
	int rc;

	if (size == 0)
		return 0;
	memset(&c, 0, sizeof(c));
	c.f = fmemopen((void *)data, size, "r");
	CHECK(c.f != NULL);
	c.line = 1;
	while ((rc = csv_record_read(&c)) != 0) {
		CHECK(++calls <= size);          /* each record takes an octet at least */
		CHECK(c.start >= last && c.line >= c.start);
		last = c.start;
		if (rc < 0) {
			CHECK(c.error != NULL && c.error[0] != '\0');
			continue;
		}
		CHECK(rc == 1 && c.nfields >= 1 && c.nfields <= CSV_FIELDS_MAX);
		for (int i = 0; i < c.nfields; i++) {
			const char *f = c.field[i];
			CHECK(f >= c.buf && f < c.buf + sizeof(c.buf));
			CHECK(memchr(f, '\0', (size_t)(c.buf + sizeof(c.buf) - f)) != NULL);
		}
	}
	fclose(c.f);
	return 0;
}
