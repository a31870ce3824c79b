/*
 * ctl_metrics.c - `ferryctl metrics`: ferryd's Prometheus metrics, the same
 * text as GET /metrics on the HTTP listener, asked over the control socket
 * (request "metrics", protocol in src/control/control.c), for operators
 * without the HTTP listener or its admin token.
 * SECURITY: ferryd decides who may ask (root, its user, its group); each
 * line of the reply was checked for control characters by ctl_queue_ask.
 * Printed only once the whole reply arrived, so a failure prints no half.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferryctl/ctl.h"
#include "util/xmalloc.h"

#define CTL_METRICS_MAX (64u << 20)   /* a reply larger than this is not ferryd's */

const char ctl_metrics_usage[] =
    "  metrics                               ferryd's metrics (Prometheus text format)\n";

struct ctl_metrics_text {
	char  *p;
	size_t len, cap;
};

/* A ctl_queue_line_fn: keep one line. */
static bool
ctl_metrics_line(void *arg, char *line)
{
	struct ctl_metrics_text *t = arg;
	size_t n = strlen(line);

	if (t->len + n + 2 > CTL_METRICS_MAX)
		return false;
	if (t->len + n + 2 > t->cap) {
		t->cap = (t->len + n + 2) * 2;
		t->p = xrealloc(t->p, t->cap);
	}
	memcpy(t->p + t->len, line, n);
	t->len += n;
	t->p[t->len++] = '\n';
	return true;
}

int
ctl_metrics_main(struct ctl *c, int argc, char **argv)
{
	struct ctl_metrics_text t = { NULL, 0, 0 };
	int rc;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage:\n%s", ctl_metrics_usage);
		return CTL_EXIT_USAGE;
	}
	rc = ctl_queue_ask(c, "metrics\n", "metrics", ctl_metrics_line, &t);
	if (rc == CTL_EXIT_OK && t.len > 0 && fwrite(t.p, 1, t.len, stdout) != t.len)
		rc = CTL_EXIT_ERR;
	if (rc == CTL_EXIT_OK && fflush(stdout) != 0)
		rc = CTL_EXIT_ERR;
	free(t.p);
	return rc;
}
