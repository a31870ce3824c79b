/*
 * control_cmd.c - what each control socket request does (protocol in
 * control.c): the queue manager's answers written as data lines, operator
 * actions carried out and refusals explained.
 * SECURITY: requests reach here parsed and checked by control.c (ids, site
 * names and tenant ids of their syntax); every string of the queue manager
 * goes out through control_field or control_summary_format, so none can
 * break the line framing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/control_internal.h"
#include "metrics/metrics.h"
#include "spool/spool_env.h"

/* A qmgr_view_fn: one message as "msg", "error" and "rcpt" lines. */
static void
control_view_emit(void *arg, const struct qmgr_view *v)
{
	struct control_conn *cc = arg;
	char num[160];

	if (cc->failed)
		return;
	control_puts(cc, "msg\t");
	control_field(cc, v->id);
	control_puts(cc, "\t");
	control_field(cc, v->state);
	snprintf(num, sizeof(num), "\t%" PRIu64 "\t%lld\t%lld\t%d\t", v->size,
	    (long long)v->arrival, (long long)v->next_try, v->attempts);
	control_puts(cc, num);
	control_field(cc, v->sender);
	control_puts(cc, "\n");
	if (v->last_error != NULL && v->last_error[0] != '\0') {
		control_puts(cc, "error\t");
		control_field(cc, v->last_error);
		control_puts(cc, "\n");
	}
	for (size_t i = 0; i < v->nrcpts; i++) {
		control_puts(cc, "rcpt\t");
		control_field(cc, v->rcpts[i]);
		control_puts(cc, "\n");
	}
}

static int
control_cmd_list(struct control_conn *cc, const struct control_req *r)
{
	(void)r;
	qmgr_list(cc->c->q, control_view_emit, cc);
	return 0;
}

/* One "env" line: a key and its value. */
static void
control_env_line(struct control_conn *cc, const char *key, const char *value)
{
	if (value == NULL || value[0] == '\0')
		return;
	control_puts(cc, "env\t");
	control_puts(cc, key);
	control_puts(cc, "\t");
	control_field(cc, value);
	control_puts(cc, "\n");
}

/* The envelope as received and each finished recipient with its outcome. */
static void
control_envelope_emit(struct control_conn *cc, const struct spool_env *env)
{
	control_env_line(cc, "client", env->client_addr);
	control_env_line(cc, "helo", env->helo);
	control_env_line(cc, "auth", env->auth);
	control_env_line(cc, "envid", env->envid);
	control_env_line(cc, "ret", smtp_ret_name(env->ret));
	control_env_line(cc, "body", smtp_body_name(env->body));
	control_env_line(cc, "smtputf8", env->smtputf8 ? "yes" : NULL);
	control_env_line(cc, "source", env->source);
	control_env_line(cc, "delay warning", env->warned ? "sent" : NULL);
	for (size_t i = 0; i < env->nrcpts && !cc->failed; i++) {
		if (env->rcpts[i].state == SPOOL_RCPT_PENDING)
			continue;
		control_puts(cc, "done\t");
		control_field(cc, env->rcpts[i].addr);
		control_puts(cc, env->rcpts[i].state == SPOOL_RCPT_DELIVERED ? "\tdelivered\n" : "\tbounced\n");
	}
}

static int
control_cmd_show(struct control_conn *cc, const struct control_req *r)
{
	struct spool_env env;

	if (qmgr_show(cc->c->q, r->id, control_view_emit, cc) != 0)
		return control_fail(cc, "no such message");
	if (qmgr_envelope(cc->c->q, r->id, &env) == 0) {
		control_envelope_emit(cc, &env);
		spool_env_free(&env);
	}
	return 0;
}

/* The queue manager said no: find out why, for the operator. */
static int
control_action_explain(struct control_conn *cc, const struct control_req *r)
{
	char why[CONTROL_WHY_MAX];

	if (qmgr_refusal(cc->c->q, r->cmd->name, r->id, why, sizeof(why)) < 0)
		return control_fail(cc, "no such message");
	return control_fail(cc, "%s", why);
}

static int
control_cmd_action(struct control_conn *cc, const struct control_req *r)
{
	const char *id = r->id[0] != '\0' ? r->id : NULL;

	if (r->cmd->action(cc->c->q, id) == 0)
		return 0;
	return control_action_explain(cc, r);
}

/* A resumed tenant's mail, held while it was suspended, goes out again. */
static int
control_cmd_release_tenant(struct control_conn *cc, const struct control_req *r)
{
	char line[64];

	snprintf(line, sizeof(line), "released\t%ld\n", qmgr_release_tenant(cc->c->q, r->tenant));
	control_puts(cc, line);
	return 0;
}

/* A qmgr_summary_fn: one row as one line. */
static void
control_summary_emit(void *arg, const struct qmgr_summary_row *row)
{
	struct control_conn *cc = arg;
	char line[CONTROL_SUMMARY_LINE_MAX];

	if (!cc->failed)
		control_out(cc, line, control_summary_format(row, line, sizeof(line)));
}

static int
control_cmd_summary(struct control_conn *cc, const struct control_req *r)
{
	(void)r;
	qmgr_summary(cc->c->q, control_summary_emit, cc);
	return 0;
}

/* The metrics as GET /metrics shows them (Prometheus text format): for
 * operators without the HTTP listener. The text holds no control
 * character but LF (metrics_render.c), so it cannot end the reply early. */
static int
control_cmd_metrics(struct control_conn *cc, const struct control_req *r)
{
	size_t len;
	char *text = metrics_render(cc->c->q, NULL, &len);

	(void)r;
	control_out(cc, text, len);
	free(text);
	return 0;
}

/* Suspend or resume a site (a destination) or a tenant's delivery. */
static int
control_cmd_suspend(struct control_conn *cc, const struct control_req *r)
{
	bool tenant = r->cmd->arg == CONTROL_ARG_TENANT;
	char id[32];
	const char *name = r->site;

	if (tenant) {
		snprintf(id, sizeof(id), "%lld", r->tenant);
		name = id;
	}
	if (qmgr_suspend(cc->c->q, tenant ? QMGR_ROW_TENANT : QMGR_ROW_SITE, name, r->cmd->suspend) == 0)
		return 0;
	if (!r->cmd->suspend)
		return control_fail(cc, "%s %s is not suspended", tenant ? "tenant" : "site", name);
	return control_fail(cc, "the queue manager cannot suspend %s %s", tenant ? "tenant" : "site",
	    name);
}

static const struct control_cmd control_cmds[] = {
	{ "list",    CONTROL_ARG_NONE,   false, control_cmd_list,   NULL, false },
	{ "show",    CONTROL_ARG_ID,     false, control_cmd_show,   NULL, false },
	{ "hold",    CONTROL_ARG_ID,     true,  control_cmd_action, qmgr_hold, false },
	{ "release", CONTROL_ARG_ID,     true,  control_cmd_action, qmgr_release, false },
	{ "delete",  CONTROL_ARG_ID,     true,  control_cmd_action, qmgr_delete, false },
	{ "requeue", CONTROL_ARG_ID,     true,  control_cmd_action, qmgr_requeue, false },
	{ "flush",   CONTROL_ARG_OPT_ID, true,  control_cmd_action, qmgr_flush, false },
	{ "release-tenant", CONTROL_ARG_TENANT, true, control_cmd_release_tenant, NULL, false },
	{ "summary",        CONTROL_ARG_NONE,   false, control_cmd_summary, NULL, false },
	{ "metrics",        CONTROL_ARG_NONE,   false, control_cmd_metrics, NULL, false },
	{ "suspend-site",   CONTROL_ARG_SITE,   true, control_cmd_suspend, NULL, true },
	{ "resume-site",    CONTROL_ARG_SITE,   true, control_cmd_suspend, NULL, false },
	{ "suspend-tenant", CONTROL_ARG_TENANT, true, control_cmd_suspend, NULL, true },
	{ "resume-tenant",  CONTROL_ARG_TENANT, true, control_cmd_suspend, NULL, false },
};

const struct control_cmd *
control_cmd_find(const char *name)
{
	for (size_t i = 0; i < sizeof(control_cmds) / sizeof(control_cmds[0]); i++)
		if (strcmp(control_cmds[i].name, name) == 0)
			return &control_cmds[i];
	return NULL;
}
