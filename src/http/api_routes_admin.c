/*
 * api_routes_admin.c - the routes of suppressions, domains, the account,
 * and the admin's tenants, keys and queue (handlers in api_handlers.h;
 * docs/api.md). The lead joins this table with the others'.
 * SECURITY: the auth column is what the listener enforces before a
 * handler runs: tenant routes act for r->tenant_id, admin routes need the
 * admin token.
 */
#include "http/api_handlers.h"

const struct api_route api_routes_admin[] = {
	{ "GET",    "/v1/suppressions",                    API_AUTH_TENANT, api_suppressions_list },
	{ "POST",   "/v1/suppressions",                    API_AUTH_TENANT, api_suppressions_add },
	{ "GET",    "/v1/suppressions/{address}",          API_AUTH_TENANT, api_suppression_get },
	{ "DELETE", "/v1/suppressions/{address}",          API_AUTH_TENANT, api_suppression_del },
	{ "GET",    "/v1/domains",                         API_AUTH_TENANT, api_domains_list },
	{ "GET",    "/v1/domains/{domain}",                API_AUTH_TENANT, api_domain_get },
	{ "GET",    "/v1/account",                         API_AUTH_TENANT, api_account_get },
	{ "GET",    "/v1/tenants",                         API_AUTH_ADMIN,  api_tenants_list },
	{ "POST",   "/v1/tenants",                         API_AUTH_ADMIN,  api_tenants_add },
	{ "GET",    "/v1/tenants/{name}",                  API_AUTH_ADMIN,  api_tenant_get },
	{ "POST",   "/v1/tenants/{name}/suspend",          API_AUTH_ADMIN,  api_tenant_suspend },
	{ "POST",   "/v1/tenants/{name}/resume",           API_AUTH_ADMIN,  api_tenant_resume },
	{ "GET",    "/v1/tenants/{name}/keys",             API_AUTH_ADMIN,  api_keys_list },
	{ "POST",   "/v1/tenants/{name}/keys",             API_AUTH_ADMIN,  api_keys_add },
	{ "DELETE", "/v1/tenants/{name}/keys/{prefix}",    API_AUTH_ADMIN,  api_key_del },
	{ "GET",    "/v1/queue",                           API_AUTH_ADMIN,  api_queue_summary },
	{ "GET",    "/v1/queue/messages",                  API_AUTH_ADMIN,  api_queue_list },
	{ "GET",    "/v1/queue/messages/{id}",             API_AUTH_ADMIN,  api_queue_show },
	{ "POST",   "/v1/queue/messages/{id}/hold",        API_AUTH_ADMIN,  api_queue_hold },
	{ "POST",   "/v1/queue/messages/{id}/release",     API_AUTH_ADMIN,  api_queue_release },
	{ 0 },
};
