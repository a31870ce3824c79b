/*
 * fuzz_db_pg_translate.c - libFuzzer target for the PostgreSQL driver's SQL
 * translator (src/db/db_pg_sql.c): the input is SQL text, translated into
 * buffers of several sizes. Invariants: the output always ends in a NUL
 * inside its buffer, a refusal says why and leaves "" behind, parameter
 * numbers stay in 1..DB_PG_PARAMS_MAX, every name is ":word" with a number
 * it can be found by, and the same input gives the same output; never a
 * crash or a read past the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_pg.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static void
check_one(const char *sql, size_t cap)
{
	static struct db_pg_sql info, again;
	char *out = malloc(cap), *out2 = malloc(cap), err[128];
	int rc;

	CHECK(out != NULL && out2 != NULL);
	err[0] = '\0';
	rc = db_pg_translate(sql, out, cap, &info, err, sizeof(err));
	CHECK(rc == 0 || rc == -1);
	if (cap > 0)
		CHECK(memchr(out, '\0', cap) != NULL);
	if (rc < 0) {
		CHECK(err[0] != '\0');
		CHECK(cap == 0 || out[0] == '\0');
	} else {
		CHECK(info.nparams >= 0 && info.nparams <= DB_PG_PARAMS_MAX);
		CHECK(info.nnames >= 0 && info.nnames <= DB_PG_NAMES_MAX);
		for (int k = 0; k < info.nnames; k++) {
			CHECK(info.names[k][0] == ':');
			CHECK(memchr(info.names[k], '\0', DB_PG_NAME_LEN) != NULL);
			CHECK(info.name_index[k] >= 1 && info.name_index[k] <= info.nparams);
			CHECK(db_pg_sql_name_index(&info, info.names[k]) == info.name_index[k]);
		}
		CHECK(db_pg_translate(sql, out2, cap, &again, err, sizeof(err)) == 0);
		CHECK(strcmp(out, out2) == 0 && again.nparams == info.nparams);
	}
	free(out);
	free(out2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *sql = malloc(size + 1);

	CHECK(sql != NULL);
	memcpy(sql, data, size);
	sql[size] = '\0';
	check_one(sql, size * 2 + 64);   /* as the driver sizes it */
	check_one(sql, size / 2 + 1);    /* often too small */
	check_one(sql, 1);
	free(sql);
	return 0;
}
