/*
 * api_webhooks.h - the handlers of the webhook endpoints (api_webhooks.c)
 * for the route table: GET/POST /v1/webhooks, GET/DELETE /v1/webhooks/{id},
 * POST /v1/webhooks/{id}/test, all API_AUTH_TENANT; api_routes_webhooks
 * lists them as rows.
 */
#ifndef FERRY_HTTP_API_WEBHOOKS_H
#define FERRY_HTTP_API_WEBHOOKS_H

#include "http/api.h"

void api_webhooks_list(struct api_req *r, struct api_resp *rp);
void api_webhooks_add(struct api_req *r, struct api_resp *rp);
void api_webhooks_get(struct api_req *r, struct api_resp *rp);
void api_webhooks_del(struct api_req *r, struct api_resp *rp);
void api_webhooks_test(struct api_req *r, struct api_resp *rp);

extern const struct api_route api_routes_webhooks[];

#endif
