/*
 * smtp_events.c - what a queued transaction tells the events outbox
 * (src/events/outbox.h): one "received" event per accepted recipient, one
 * "suppressed" per recipient dropped for the tenant's suppression list,
 * and "held" when the message waits in hold. outbox_emit only copies, so
 * this costs the SMTP loop no disk or database time.
 * The Message-ID comes from the header section kept for the tenant's From
 * check (tenant mail only); it is the client's text: bounded, and only a
 * single-line value is taken.
 */
#include "smtp/smtp_internal.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include "events/outbox.h"

#define SMTP_MSGID_MAX 250

/* The Message-ID field's value (unfolded onto one line, trimmed), or "". */
static void
smtp_events_message_id(const struct smtp_tx *tx, char *out, size_t size)
{
	const char *h = tx->hdr, *end = tx->hdr + tx->hdr_len;

	out[0] = '\0';
	if (h == NULL)
		return;
	while (h < end) {
		const char *eol = memchr(h, '\n', (size_t)(end - h));
		size_t len = eol != NULL ? (size_t)(eol - h) : (size_t)(end - h);
		if (len == 0 || (len == 1 && h[0] == '\r'))
			return;                           /* the end of the header section */
		if (len > 11 && strncasecmp(h, "Message-ID:", 11) == 0) {
			const char *v = h + 11, *ve = h + len;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			size_t n = (size_t)(ve - v) < size - 1 ? (size_t)(ve - v) : size - 1;
			if (n <= SMTP_MSGID_MAX && memchr(v, '\0', n) == NULL) {
				memcpy(out, v, n);
				out[n] = '\0';
			}
			return;
		}
		if (eol == NULL)
			return;
		h = eol + 1;
	}
}

static void
smtp_events_base(struct smtp_session *s, struct state_event *e, char *msgid, size_t size)
{
	struct smtp_tx *tx = &s->tx;

	smtp_events_message_id(tx, msgid, size);
	*e = (struct state_event){
		.time = time(NULL), .tenant_id = tx->as_tenant ? s->ident.tenant_id : 0, .queue_id = tx->id,
		.rcpt_index = -1, .message_id = msgid, .sender = tx->sender.addr, .source_ip = s->addr,
		.size = (long long)tx->reader.out_bytes, .source = "smtp",
	};
}

static void
smtp_events_dropped(struct smtp_session *s, struct state_event *e)
{
	struct smtp_tx *tx = &s->tx;

	e->kind = EV_SUPPRESSED;
	e->rcpt_index = -1;
	e->source = "rcpt";
	for (size_t i = 0; tx->dropped != NULL && i < tx->ndropped; i++) {
		e->rcpt = tx->dropped[i].rcpt;
		e->detail = tx->dropped[i].detail;
		outbox_emit(e);
	}
}

void
smtp_events_suppressed(struct smtp_session *s)
{
	struct state_event e;
	char msgid[SMTP_MSGID_MAX + 1];

	if (s->tx.kind == SMTP_TX_RETURN_PATH)
		return;
	smtp_events_base(s, &e, msgid, sizeof(msgid));
	smtp_events_dropped(s, &e);
}

void
smtp_events_queued(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;
	struct state_event e;
	char msgid[SMTP_MSGID_MAX + 1];

	if (tx->kind == SMTP_TX_RETURN_PATH)
		return;        /* a report coming back: the feedback loop's events tell its outcome */
	smtp_events_base(s, &e, msgid, sizeof(msgid));
	e.kind = EV_RECEIVED;
	for (size_t i = 0; i < tx->nrcpts; i++) {
		e.rcpt_index = (int)i;
		e.rcpt = tx->rcpts[i].path.addr;
		outbox_emit(&e);
	}
	smtp_events_dropped(s, &e);
	if (tx->hold_reason[0] != '\0') {
		e.kind = EV_HELD;
		e.rcpt_index = -1;
		e.rcpt = "";
		e.detail = tx->hold_reason;
		e.source = tx->hold_review ? "review" : "filter";
		outbox_emit(&e);
	}
}
