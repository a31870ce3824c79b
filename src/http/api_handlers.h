/*
 * api_handlers.h - the handlers of src/http/ itself (the route table in
 * api_routes.c names them): ping and events. Other modules declare theirs
 * in their own headers.
 */
#ifndef FERRY_HTTP_API_HANDLERS_H
#define FERRY_HTTP_API_HANDLERS_H

#include "http/api.h"

void api_ping_get(struct api_req *r, struct api_resp *rp);
void api_ping_post(struct api_req *r, struct api_resp *rp);
void api_events_get(struct api_req *r, struct api_resp *rp);

#endif
