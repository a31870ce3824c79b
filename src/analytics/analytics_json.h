/*
 * analytics_json.h - the statistics as JSON, the one shape GET /v1/stats,
 * GET /v1/stats/bounces and `ferryctl stats --json` give (docs/api.md,
 * "Stats").
 */
#ifndef FERRY_ANALYTICS_JSON_H
#define FERRY_ANALYTICS_JSON_H

#include <jansson.h>

#include "analytics/analytics_query.h"

/* {"by", "since", "until", "rows": [{"key"|"hour"|"domain"|"ip"|"category",
 *  "sent", "delivered", "deferred", "bounced", "expired", "complained",
 *  "suppressed"} (category: "bounced", "sample_reply", "sample_status")],
 *  "totals": {...}}. NULL on a database error. */
json_t *analytics_stats_json(struct state *st, const struct analytics_query *q);
/* {"since", "until", "domains": [{"domain", "bounced", "outcomes", "rate",
 *  "share", "category", "sample_reply", "sample_status"}], "categories":
 *  [{"category", "bounced", "rate", "share", "sample_reply",
 *  "sample_status"}]}. NULL on a database error. */
json_t *analytics_bounces_json(struct state *st, const struct analytics_query *q);

#endif
