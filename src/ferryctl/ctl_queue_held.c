/*
 * ctl_queue_held.c - `ferryctl queue list --held`: every message in the
 * spool's hold/ directory (held by `queue hold`, quarantined by a content
 * filter, or held for a tenant under review) with its hold reason, read
 * from the files themselves: a message held at arrival was never handed to
 * ferryd's queue manager, so this does not ask ferryd.
 * SECURITY: the files are ferryd's; each is parsed by spool_env_parse
 * (bounded records) and the text printed is the reason and envelope as
 * written by ferryd, control characters replaced.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf/conf.h"
#include "ferryctl/ctl.h"
#include "spool/spool.h"
#include "spool/spool_env.h"

/* s with control characters shown as '?' (a reason may come from a filter). */
static void
ctl_held_print_clean(const char *s)
{
	for (; *s; s++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

static void
ctl_held_print(const struct spool_env *e, bool first)
{
	char when[64];
	time_t t = e->arrival;
	struct tm tm;

	if (first)
		printf("-Queue ID-------- --Size-- ----Arrival Time---  -Sender/Recipient-------\n");
	else
		printf("\n");
	if (localtime_r(&t, &tm) == NULL || strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm) == 0)
		snprintf(when, sizeof(when), "%lld", (long long)t);
	printf("%-16s! %8" PRIu64 " %-19s  ", e->id, e->content_len, when);
	ctl_held_print_clean(e->sender[0] != '\0' ? e->sender : "<>");
	printf("\n%48s(held: ", "");
	ctl_held_print_clean(e->hold_reason != NULL ? e->hold_reason : "by the administrator");
	printf(")\n");
	for (size_t i = 0; i < e->nrcpts; i++) {
		printf("%48s", "");
		ctl_held_print_clean(e->rcpts[i].addr);
		printf("\n");
	}
}

static int
ctl_held_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
ctl_queue_held_list(struct ctl *c)
{
	const struct conf *conf = ctl_conf_get(c);
	char path[4096], **names = NULL;
	size_t n = 0, shown = 0;
	struct dirent *de;
	DIR *d;

	if (conf == NULL)
		return CTL_EXIT_ERR;
	snprintf(path, sizeof(path), "%s/hold", conf->spool_dir);
	if ((d = opendir(path)) == NULL) {
		ctl_warn("queue list --held: %s: %s", path, strerror(errno));
		return CTL_EXIT_ERR;
	}
	while ((de = readdir(d)) != NULL)
		if (strlen(de->d_name) == SPOOL_ID_LEN) {
			names = realloc(names, (n + 1) * sizeof(*names));
			if (names == NULL || (names[n] = strdup(de->d_name)) == NULL) {
				closedir(d);
				ctl_warn("queue list --held: out of memory");
				return CTL_EXIT_ERR;
			}
			n++;
		}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), ctl_held_name_cmp);
	for (size_t i = 0; i < n; i++) {
		struct spool_env e;
		int fd;
		snprintf(path, sizeof(path), "%s/hold/%s", conf->spool_dir, names[i]);
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && spool_env_parse(fd, &e) == 0) {
			ctl_held_print(&e, shown++ == 0);
			spool_env_free(&e);
		}
		if (fd >= 0)
			close(fd);
		free(names[i]);
	}
	free(names);
	printf(shown == 0 ? "no held messages\n" : "\n-- %zu held message%s\n", shown, shown == 1 ? "" : "s");
	return CTL_EXIT_OK;
}
