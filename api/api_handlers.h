/* Handlers named in routes.c, one file per resource. */
#ifndef DW_API_HANDLERS_H
#define DW_API_HANDLERS_H

#include "api.h"

/* meta.c */
int api_version_get(api_req *r);
int api_routes_get(api_req *r);

/* regions.c */
int api_regions_list(api_req *r);
void api_regions_init(void);

/* enterprises.c */
int api_enterprises_list(api_req *r);
int api_enterprise_get(api_req *r);
int api_enterprise_create(api_req *r);
int api_enterprise_update(api_req *r);
void api_enterprises_init(void);

/* enterprises.c: the survey table */
int api_enterprises_export(api_req *r);
int api_enterprises_import(api_req *r);

/* points.c */
int api_points_by_enterprise(api_req *r);
int api_point_get(api_req *r);
int api_point_update(api_req *r);
int api_point_series(api_req *r);
void api_points_init(void);

/* overview.c */
int api_overview_get(api_req *r);
void api_overview_init(void);

/* accounts.c */
int api_accounts_list(api_req *r);
int api_account_create(api_req *r);
int api_apikeys_list(api_req *r);
int api_apikey_create(api_req *r);
int api_apikey_revoke(api_req *r);
int api_audit_list(api_req *r);
void api_accounts_init(void);

/* Registers every resource's statements (before the first connection). */
void api_handlers_init(void);

#endif
