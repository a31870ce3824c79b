/*
 * state_spam.c - what ferry does with a tenant's message that a content
 * filter refused as spam: tenants.spam_action, one of reject (550 5.7.1 at
 * the end of DATA), hold (the quarantine queue) or header (accepted with
 * X-Ferry-Spam). Read at the end of DATA only when a filter refused, so
 * the common path costs no query.
 * SECURITY: the value is checked on the way in; an unknown stored value
 * reads as reject, the safe choice.
 */
#include <stdio.h>
#include <string.h>

#include "state/state.h"
#include "state/state_internal.h"

const char *
state_spam_action_name(enum state_spam_action a)
{
	return a == STATE_SPAM_HOLD ? "hold" : a == STATE_SPAM_HEADER ? "header" : "reject";
}

int
state_spam_action_parse(const char *s, enum state_spam_action *a)
{
	if (strcmp(s, "reject") == 0) *a = STATE_SPAM_REJECT;
	else if (strcmp(s, "hold") == 0) *a = STATE_SPAM_HOLD;
	else if (strcmp(s, "header") == 0) *a = STATE_SPAM_HEADER;
	else return -1;
	return 0;
}

int
state_tenant_spam_action(struct state *st, long long tenant_id, enum state_spam_action *a)
{
	struct db_stmt *stmt = state_prepare(st, "SELECT spam_action FROM tenants WHERE id = ?1;");
	char text[16] = "";
	int rc;

	*a = STATE_SPAM_REJECT;
	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, tenant_id);
	rc = db_step(stmt);
	if (rc == DB_ROW)
		state_text_copy(text, sizeof(text), stmt, 0);
	state_stmt_done(stmt);
	if (rc != DB_ROW)
		return rc == DB_DONE ? 0 : -1;
	(void)state_spam_action_parse(text, a);
	return 1;
}

int
state_tenant_spam_action_set(struct state *st, const char *name, enum state_spam_action a)
{
	struct db_stmt *stmt = state_prepare(st, "UPDATE tenants SET spam_action = ?1 WHERE name = ?2;");
	int rc, changed;

	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, state_spam_action_name(a), -1);
	db_bind_text(stmt, 2, name, -1);
	rc = db_step(stmt);
	changed = db_changes(db_stmt_db(stmt));
	state_stmt_done(stmt);
	if (rc != DB_DONE)
		return -1;
	return changed > 0 ? 1 : 0;
}
