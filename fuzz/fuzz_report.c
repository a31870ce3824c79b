/*
 * fuzz_report.c - libFuzzer target for the report parser
 * (src/feedback/): the input is a hostile message that came back to a
 * return path. Invariants: it never crashes or leaks; every text field is
 * NUL-terminated within its array and holds no control character; the
 * recipient count stays within REPORT_RCPTS_MAX; a kind has its format.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feedback/report.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

/* NUL inside the array and no octet below 0x20 before it. */
static void
fuzz_text_ok(const char *s, size_t size)
{
	const char *nul = memchr(s, '\0', size);

	CHECK(nul != NULL);
	for (const char *p = s; p < nul; p++)
		CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
}

#define TEXT_OK(field) fuzz_text_ok((field), sizeof(field))

/* GLib's slice allocator hides GObjects from LeakSanitizer, and reads
 * G_SLICE before main: run again with plain malloc, so that a GMime object
 * not released is reported as a leak. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (*argc > 0 && getenv("G_SLICE") == NULL) {
		setenv("G_SLICE", "always-malloc", 1);
		execv("/proc/self/exe", *argv);   /* failing that, go on without */
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct report r;
	int rc = report_parse((const char *)data, size, &r);

	CHECK(rc == 0 || rc == -1);
	CHECK(rc == 0 || r.kind == REPORT_UNKNOWN);
	CHECK(r.nrcpts <= REPORT_RCPTS_MAX);
	CHECK((r.kind == REPORT_UNKNOWN) == (r.format[0] == '\0'));
	TEXT_OK(r.format);
	TEXT_OK(r.feedback_type);
	TEXT_OK(r.user_agent);
	TEXT_OK(r.source_ip);
	TEXT_OK(r.arrival_date);
	TEXT_OK(r.reported_domain);
	TEXT_OK(r.original_rcpt);
	TEXT_OK(r.original_from);
	TEXT_OK(r.orig_return_path);
	TEXT_OK(r.orig_ref);
	TEXT_OK(r.orig_message_id);
	TEXT_OK(r.orig_to);
	TEXT_OK(r.orig_from);
	TEXT_OK(r.subject);
	TEXT_OK(r.autoreply_why);
	for (size_t i = 0; i < r.nrcpts; i++) {
		CHECK(r.rcpts[i].addr[0] != '\0');
		CHECK(r.rcpts[i].code == 0 || (r.rcpts[i].code >= 200 && r.rcpts[i].code <= 599));
		TEXT_OK(r.rcpts[i].addr);
		TEXT_OK(r.rcpts[i].orig_addr);
		TEXT_OK(r.rcpts[i].action);
		TEXT_OK(r.rcpts[i].status);
		TEXT_OK(r.rcpts[i].diagnostic);
	}
	report_free(&r);
	return 0;
}
