/*
 * ctl_bounce.c - `ferryctl bounce classify|categories`: the bounce
 * classifier (feedback/classify.h) run by hand, so an administrator can see
 * which category, hardness and rule (FILE:LINE) a reply gets before and
 * after editing bounce.rules. The rules are the configuration's
 * (bounce_rules, else the embedded ones) or -f FILE's.
 * SECURITY: the reply text comes from the command line and is only matched
 * (bounded, under PCRE2 limits), never interpreted.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "feedback/classify.h"
#include "ferryctl/ctl.h"
#include "util/xmalloc.h"

const char ctl_bounce_usage[] =
    "  bounce classify [-f RULES] CODE STATUS TEXT...\n"
    "                                        the category of a failure (CODE 550 or -, STATUS 5.1.1 or -)\n"
    "  bounce categories [-f RULES]          the categories of the rules: hard, soft or soft,sender\n";

/* The rules to use: -f FILE; else ferry.conf's bounce_rules, which ferryctl
 * reads without opening files (CONF_LOAD_NO_FILES), so a named file is
 * loaded here; NULL with *none set for "bounce_rules none". */
static struct classify_rules *
ctl_bounce_rules(struct ctl *c, const char *file, bool *none, bool *failed)
{
	const struct conf *k;
	char err[1024];
	struct classify_rules *r;

	*none = *failed = false;
	if (file == NULL) {
		if ((k = ctl_conf_get(c)) == NULL) {
			*failed = true;
			return NULL;
		}
		file = k->bounce_rules_file;
		if (file != NULL && strcmp(file, "none") == 0) {
			*none = true;
			return NULL;
		}
	}
	if ((r = classify_rules_load(file, err, sizeof(err))) == NULL) {
		ctl_warn("%s", err);
		*failed = true;
	}
	return r;
}

/* CODE: 200-599, or "-" / "0" for unknown. -1 when neither. */
static int
ctl_bounce_code(const char *s)
{
	if (strcmp(s, "-") == 0 || strcmp(s, "0") == 0)
		return 0;
	if (strlen(s) != 3 || s[0] < '2' || s[0] > '5' || strspn(s, "0123456789") != 3)
		return -1;
	return atoi(s);
}

/* STATUS: "5.1.1" (class 2, 4 or 5, then 1-3 digits twice), or "-". */
static bool
ctl_bounce_status_valid(const char *s)
{
	size_t a, b, c;

	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		return false;
	if (s[1] != '.' || (a = strspn(s + 2, "0123456789")) < 1 || a > 3 || s[2 + a] != '.')
		return false;
	b = 3 + a;
	c = strspn(s + b, "0123456789");
	return c >= 1 && c <= 3 && s[b + c] == '\0';
}

/* The words of TEXT... joined by single spaces. */
static char *
ctl_bounce_text(int argc, char **argv, size_t *len)
{
	size_t n = 1;
	char *text;

	for (int i = 0; i < argc; i++)
		n += strlen(argv[i]) + 1;
	text = xmalloc(n);
	*len = 0;
	for (int i = 0; i < argc; i++)
		*len += (size_t)snprintf(text + *len, n - *len, "%s%s", i > 0 ? " " : "", argv[i]);
	text[*len] = '\0';
	return text;
}

/* The hardness column: hard, soft, or soft,sender (never suppresses). */
static const char *
ctl_bounce_kind(bool hard, bool sender)
{
	return hard ? "hard" : sender ? "soft,sender" : "soft";
}

static int
ctl_bounce_classify(struct ctl *c, const char *file, int argc, char **argv)
{
	struct classify_result res;
	struct classify_rules *r;
	bool none, failed;
	int code = argc >= 2 ? ctl_bounce_code(argv[0]) : -1;
	const char *status = argc >= 2 && strcmp(argv[1], "-") != 0 ? argv[1] : NULL;
	size_t len;
	char *text;

	if (argc < 2 || code < 0 || (status != NULL && !ctl_bounce_status_valid(status))) {
		ctl_warn(argc < 2 ? "bounce classify: CODE and STATUS are needed" :
		    code < 0 ? "bounce classify: CODE is a reply code (550) or -" :
		    "bounce classify: STATUS is an enhanced status (5.1.1) or -");
		fputs(ctl_bounce_usage, stderr);
		return CTL_EXIT_USAGE;
	}
	r = ctl_bounce_rules(c, file, &none, &failed);
	if (failed)
		return CTL_EXIT_ERR;
	text = ctl_bounce_text(argc - 2, argv + 2, &len);
	classify_reply(r, code, status, text, len, &res);
	if (res.line > 0)
		printf("%s\t%s\t%s\t%s:%u\n", res.category, ctl_bounce_kind(res.hard, res.sender), res.rule,
		    res.file, res.line);
	else
		printf("%s\t%s\t-\t%s\n", res.category, ctl_bounce_kind(res.hard, res.sender),
		    none ? "(bounce_rules none)" : "(no rule matched)");
	free(text);
	classify_rules_free(r);
	return CTL_EXIT_OK;
}

static int
ctl_bounce_categories(struct ctl *c, const char *file)
{
	struct classify_rules *r;
	const char *name, *desc;
	bool none, failed, hard;

	r = ctl_bounce_rules(c, file, &none, &failed);
	if (failed)
		return CTL_EXIT_ERR;
	if (none)
		printf("%s\tsoft\t(bounce_rules none: every failure)\n", CLASSIFY_FALLBACK);
	for (size_t i = 0; (name = classify_category_get(r, i, &hard, &desc)) != NULL; i++)
		printf("%s\t%s\t%s\n", name, ctl_bounce_kind(hard, classify_category_sender(r, i)), desc);
	classify_rules_free(r);
	return CTL_EXIT_OK;
}

int
ctl_bounce_main(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "rules", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL, *sub = argc >= 2 ? argv[1] : "";
	int ch;

	/* the subcommand's own options, after it: getopt from argv[1] */
	optind = 0;   /* glibc: start over on this argv */
	while ((ch = getopt_long(argc - 1, argv + 1, "+:f:", longopts, NULL)) != -1) {
		if (ch != 'f') {
			ctl_opt_warn(ch, argv + 1);
			fputs(ctl_bounce_usage, stderr);
			return CTL_EXIT_USAGE;
		}
		file = optarg;
	}
	if (strcmp(sub, "classify") == 0)
		return ctl_bounce_classify(c, file, argc - 1 - optind, argv + 1 + optind);
	if (strcmp(sub, "categories") == 0 && optind == argc - 1)
		return ctl_bounce_categories(c, file);
	ctl_warn("bounce: %s", argc < 2 ? "no subcommand" : "unknown subcommand or extra words");
	fputs(ctl_bounce_usage, stderr);
	return CTL_EXIT_USAGE;
}
