/*
 * smtp_kinds.c - the keywords of BODY and RET values, for the spool file,
 * the outbound MAIL command and the control socket's listing.
 */
#include "util/smtp_kinds.h"

#include <stddef.h>
#include <string.h>

static const char *const smtp_body_names[] = { NULL, "7BIT", "8BITMIME", "BINARYMIME" };
static const char *const smtp_ret_names[] = { NULL, "FULL", "HDRS" };

/* The index of name in names[1..n), or 0. */
static int
smtp_kind_find(const char *const *names, int n, const char *name)
{
	for (int i = 1; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return 0;
}

const char *
smtp_body_name(enum smtp_body body)
{
	return (unsigned)body <= SMTP_BODY_BINARYMIME ? smtp_body_names[body] : NULL;
}

const char *
smtp_ret_name(enum smtp_ret ret)
{
	return (unsigned)ret <= SMTP_RET_HDRS ? smtp_ret_names[ret] : NULL;
}

enum smtp_body
smtp_body_from_name(const char *name)
{
	return (enum smtp_body)smtp_kind_find(smtp_body_names, SMTP_BODY_BINARYMIME + 1, name);
}

enum smtp_ret
smtp_ret_from_name(const char *name)
{
	return (enum smtp_ret)smtp_kind_find(smtp_ret_names, SMTP_RET_HDRS + 1, name);
}
