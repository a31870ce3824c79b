/*
 * report_auto.c - auto-replies (out-of-office, vacation, "we got your
 * message") that reach a return path: never bounces. Header signals
 * first, then the subjects responders use in several languages.
 * STANDARDS: RFC 3834 (Auto-Submitted; automatic responses), RFC 2076
 * (Precedence), Microsoft's X-Auto-Response-Suppress.
 * SECURITY: a signal only makes a report harmless (nothing is suppressed
 * for an auto-reply), so a forged one costs nothing but the event.
 * Why a DSN wins over these signals: Exim and Postfix put
 * "Auto-Submitted: auto-replied" on their bounces too (RFC 3834 5.1 names
 * no keyword for DSNs; RFC 3464 does not require the field), so the
 * signal cannot tell them apart; the report's structure decides first.
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "feedback/report_internal.h"

/* Subjects auto-responders use: prefixes, then words found anywhere. */
static const char *const report_auto_prefixes[] = {
	"Auto:", "Autoreply", "Auto-Reply", "Auto Reply", "Automatic reply", "AutoResponse", "Auto Response",
	"Abwesenheitsnotiz", "Automatische Antwort", "R\xc3\xa9ponse automatique", "Risposta automatica",
	"Respuesta autom\xc3\xa1tica", "Automatisch antwoord", "Resposta autom\xc3\xa1tica",
};
static const char *const report_auto_words[] = {
	"Out of Office", "Out of the Office", "Out-of-Office", "Vacation reply", "Abwesenheit",
};

/* Subjects of bounces written by MTAs and providers. */
static const char *const report_bounce_subjects[] = {
	"Undeliver", "Delivery Status Notification", "Returned mail", "Delivery failure", "failure notice",
	"Mail delivery failed", "Delivery has failed", "Mail System Error", "Non remis", "Unzustellbar",
	"Message not delivered", "Delivery Notification",
};

static bool
report_words_any(const char *s, const char *const *words, size_t n, bool prefix_only)
{
	size_t len = strlen(s);

	for (size_t i = 0; i < n; i++) {
		if (prefix_only ? strncasecmp(s, words[i], strlen(words[i])) == 0 :
		    report_memcasemem(s, len, words[i]) != NULL)
			return true;
	}
	return false;
}

/* Does the subject say "bounce"? (for the generic fallback) */
bool
report_subject_bounce(const char *subject)
{
	return report_words_any(subject, report_bounce_subjects,
	    sizeof(report_bounce_subjects) / sizeof(report_bounce_subjects[0]), false);
}

/* A header's value, trimmed, into buf (empty when absent). */
static const char *
report_auto_header(GMimeObject *top, const char *name, char *buf, size_t bufsz)
{
	const char *v = g_mime_object_get_header(top, name);

	report_copy_str(buf, bufsz, v != NULL ? v : "");
	return buf;
}

static void
report_auto_why(char *why, size_t whysz, const char *name, const char *value)
{
	char tmp[128];
	size_t k = strlen(name);

	if (k + 2 >= sizeof(tmp))
		k = sizeof(tmp) - 3;
	memcpy(tmp, name, k);
	tmp[k++] = ':';
	tmp[k++] = ' ';
	report_copy(tmp + k, sizeof(tmp) - k, value, strlen(value));
	report_copy_str(why, whysz, tmp);
}

/* Header fields that make a message an automatic response. */
static bool
report_auto_headers(GMimeObject *top, const char *subject, char *why, size_t whysz)
{
	static const char *const flags[] = { "X-Autoreply", "X-Autorespond", "X-Autoresponder" };
	char v[128];

	report_auto_header(top, "Auto-Submitted", v, sizeof(v));
	if (v[0] != '\0' && strncasecmp(v, "no", 2) != 0) {
		report_auto_why(why, whysz, "Auto-Submitted", v);
		return true;
	}
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (g_mime_object_get_header(top, flags[i]) != NULL) {
			report_auto_why(why, whysz, flags[i], report_auto_header(top, flags[i], v, sizeof(v)));
			return true;
		}
	if (strcasecmp(report_auto_header(top, "Precedence", v, sizeof(v)), "auto_reply") == 0) {
		report_auto_why(why, whysz, "Precedence", v);
		return true;
	}
	if (g_mime_object_get_header(top, "X-Auto-Response-Suppress") != NULL &&
	    strncasecmp(subject, "Automatic reply:", 16) == 0) {
		report_auto_why(why, whysz, "X-Auto-Response-Suppress",
		    report_auto_header(top, "X-Auto-Response-Suppress", v, sizeof(v)));
		return true;
	}
	return false;
}

/* Is the message an auto-reply? why gets the signal that said so. */
bool
report_auto_detect(GMimeObject *top, const char *subject, char *why, size_t whysz)
{
	if (report_auto_headers(top, subject, why, whysz))
		return true;
	if (report_words_any(subject, report_auto_prefixes,
	    sizeof(report_auto_prefixes) / sizeof(report_auto_prefixes[0]), true) ||
	    report_words_any(subject, report_auto_words, sizeof(report_auto_words) / sizeof(report_auto_words[0]),
	    false)) {
		report_auto_why(why, whysz, "Subject", subject);
		return true;
	}
	return false;
}
