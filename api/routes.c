/* The one route table.  Data, not code: the dispatcher alone answers
 * 401/403/404/405/OPTIONS, and tests enumerate this table (GET
 * /api/v1/routes) to prove that every object route hides foreign tenants and
 * every restricted route refuses the wrong role. */
#include "api.h"
#include "api_auth.h"
#include "api_events.h"
#include "api_handlers.h"
#include "api_role.h"

#include "db.h"
#include "srv_config.h"

#define KIB    1024
#define MIB    (1024 * 1024)
#define GOV    (API_CITY | API_DISTRICT | API_STREET)
#define ADMINS (API_CITY | API_DISTRICT | API_ADMIN_ONLY)
#define CDE    (API_CITY | API_DISTRICT | API_ENTERPRISE)

const api_route api_routes[] = {
    {"GET", "/api/v1/version", api_version_get, API_PUBLIC, 0},
    {"GET", "/api/v1/routes", api_routes_get, API_PUBLIC, 0},
    {"GET", "/api/v1/openapi.json", api_openapi_get, API_PUBLIC, 0},
    {"POST", "/api/v1/auth/login", api_login, API_PUBLIC, 4 * KIB},
    {"POST", "/api/v1/auth/logout", api_logout, API_ANY_USER, 1 * KIB},
    {"GET", "/api/v1/auth/me", api_me, API_ANY_USER, 0},
    {"POST", "/api/v1/auth/password", api_password_change, API_ANY_USER, 4 * KIB},
    {"GET", "/api/v1/regions", api_regions_list, API_ANY_USER, 0},
    {"GET", "/api/v1/overview", api_overview_get, API_ANY_USER, 0},
    {"GET", "/api/v1/events", api_events_stream, API_ANY_USER, 0},
    {"GET", "/api/v1/enterprises", api_enterprises_list, API_ANY_USER, 0},
    {"POST", "/api/v1/enterprises", api_enterprise_create, API_CITY | API_DISTRICT, 64 * KIB},
    {"GET", "/api/v1/enterprises/export.csv", api_enterprises_export, GOV, 0},
    {"POST", "/api/v1/enterprises/import", api_enterprises_import, API_CITY | API_DISTRICT,
     8 * MIB},
    {"GET", "/api/v1/enterprises/{id}", api_enterprise_get, API_ANY_USER, 0},
    {"PATCH", "/api/v1/enterprises/{id}", api_enterprise_update,
     API_CITY | API_DISTRICT | API_ENTERPRISE, 64 * KIB},
    {"GET", "/api/v1/enterprises/{id}/points", api_points_by_enterprise, API_ANY_USER, 0},
    {"GET", "/api/v1/enterprises/{id}/api-keys", api_apikeys_list, API_ANY_USER, 0},
    {"POST", "/api/v1/enterprises/{id}/api-keys", api_apikey_create,
     API_DISTRICT | API_ENTERPRISE | API_ADMIN_ONLY, 4 * KIB},
    {"DELETE", "/api/v1/api-keys/{id}", api_apikey_revoke,
     API_DISTRICT | API_ENTERPRISE | API_ADMIN_ONLY, 0},
    {"GET", "/api/v1/points/{id}", api_point_get, API_ANY_USER, 0},
    {"PATCH", "/api/v1/points/{id}", api_point_update, API_CITY | API_DISTRICT, 16 * KIB},
    {"GET", "/api/v1/points/{id}/series", api_point_series, API_ANY_USER, 0},
    /* monitoring assets (assets.c, credentials.c).  Systems and points feed
     * the risk score: city and district write them, never the enterprise
     * being scored (as the archive and the limits).  Cameras and gateways are
     * the enterprise's own equipment: it maintains them too.  Ingest
     * credentials are keys to the data feed: administrators only, and an
     * enterprise manager may revoke a leaked one at once.  Street accounts
     * read.  DELETE refuses (409 in_use) while stored data refers to the
     * object; credentials are revoked, never deleted. */
    {"GET", "/api/v1/enterprises/{id}/systems", api_systems_list, API_ANY_USER, 0},
    {"POST", "/api/v1/enterprises/{id}/systems", api_system_create, API_CITY | API_DISTRICT,
     16 * KIB},
    {"GET", "/api/v1/systems/{id}", api_system_get, API_ANY_USER, 0},
    {"PATCH", "/api/v1/systems/{id}", api_system_update, API_CITY | API_DISTRICT, 16 * KIB},
    {"DELETE", "/api/v1/systems/{id}", api_system_delete, API_CITY | API_DISTRICT, 0},
    {"POST", "/api/v1/enterprises/{id}/points", api_point_create, API_CITY | API_DISTRICT,
     16 * KIB},
    {"DELETE", "/api/v1/points/{id}", api_point_delete, API_CITY | API_DISTRICT, 0},
    {"GET", "/api/v1/enterprises/{id}/cameras", api_cameras_list, API_ANY_USER, 0},
    {"POST", "/api/v1/enterprises/{id}/cameras", api_camera_create, CDE, 16 * KIB},
    {"GET", "/api/v1/cameras/{id}", api_camera_get, API_ANY_USER, 0},
    {"PATCH", "/api/v1/cameras/{id}", api_camera_update, CDE, 16 * KIB},
    {"DELETE", "/api/v1/cameras/{id}", api_camera_delete, CDE, 0},
    {"GET", "/api/v1/enterprises/{id}/gateways", api_gateways_list, API_ANY_USER, 0},
    {"POST", "/api/v1/enterprises/{id}/gateways", api_gateway_create, CDE, 16 * KIB},
    {"GET", "/api/v1/gateways/{id}", api_gateway_get, API_ANY_USER, 0},
    {"PATCH", "/api/v1/gateways/{id}", api_gateway_update, CDE, 16 * KIB},
    {"DELETE", "/api/v1/gateways/{id}", api_gateway_delete, CDE, 0},
    {"GET", "/api/v1/enterprises/{id}/ingest-credentials", api_ingest_credentials_list,
     API_ANY_USER, 0},
    {"POST", "/api/v1/enterprises/{id}/ingest-credentials", api_ingest_credential_create,
     CDE | API_ADMIN_ONLY, 4 * KIB},
    {"DELETE", "/api/v1/ingest-credentials/{id}", api_ingest_credential_revoke,
     CDE | API_ADMIN_ONLY, 0},
    {"GET", "/api/v1/accounts", api_accounts_list, ADMINS | API_ENTERPRISE, 0},
    {"POST", "/api/v1/accounts", api_account_create, ADMINS | API_ENTERPRISE, 8 * KIB},
    {"GET", "/api/v1/audit", api_audit_list, ADMINS, 0},
    /* risk and early warning (alarms.c, warnings.c, risk.c, cleaning.c) */
    {"GET", "/api/v1/alarms", api_alarms_list, API_ANY_USER, 0},
    {"GET", "/api/v1/alarms/{id}", api_alarm_get, API_ANY_USER, 0},
    {"POST", "/api/v1/alarms/{id}/acknowledge", api_alarm_acknowledge, API_ENTERPRISE, 16 * KIB},
    {"POST", "/api/v1/alarms/{id}/handle", api_alarm_handle, API_ENTERPRISE, 16 * KIB},
    {"POST", "/api/v1/alarms/{id}/close", api_alarm_close, API_ANY_USER, 16 * KIB},
    {"GET", "/api/v1/warnings", api_warnings_list, API_ANY_USER, 0},
    {"GET", "/api/v1/warnings/{id}", api_warning_get, API_ANY_USER, 0},
    {"POST", "/api/v1/warnings/{id}/sign", api_warning_sign, API_ENTERPRISE, 16 * KIB},
    {"POST", "/api/v1/warnings/{id}/feedback", api_warning_feedback, API_ENTERPRISE, 16 * KIB},
    {"POST", "/api/v1/warnings/{id}/request-clearance", api_warning_request_clearance,
     API_ENTERPRISE, 16 * KIB},
    {"POST", "/api/v1/warnings/{id}/approve", api_warning_approve, GOV, 16 * KIB},
    {"POST", "/api/v1/warnings/{id}/return", api_warning_return, GOV, 16 * KIB},
    {"GET", "/api/v1/enterprises/{id}/risk", api_risk_current, API_ANY_USER, 0},
    {"GET", "/api/v1/enterprises/{id}/risk/history", api_risk_history, API_ANY_USER, 0},
    {"GET", "/api/v1/risk/distribution", api_risk_distribution, API_ANY_USER, 0},
    {"GET", "/api/v1/risk/ranking", api_risk_ranking, GOV, 0},
    {"GET", "/api/v1/enterprises/{id}/cleaning-areas", api_cleaning_areas_list, API_ANY_USER, 0},
    {"POST", "/api/v1/enterprises/{id}/cleaning-areas", api_cleaning_area_create,
     API_CITY | API_DISTRICT | API_ENTERPRISE, 4 * KIB},
    {"PATCH", "/api/v1/cleaning-areas/{id}", api_cleaning_area_update,
     API_CITY | API_DISTRICT | API_ENTERPRISE, 4 * KIB},
    {"POST", "/api/v1/cleaning-areas/{id}/checkins", api_cleaning_checkin_create, API_ENTERPRISE,
     3 * MIB},
    {"GET", "/api/v1/enterprises/{id}/checkins", api_cleaning_checkins_list, API_ANY_USER, 0},
    {"GET", "/api/v1/checkins/{id}/photo", api_cleaning_photo_get, API_ANY_USER, 0},
    {"GET", "/api/v1/cleaning/compliance", api_cleaning_compliance, API_ANY_USER, 0},
};
const size_t api_n_routes = sizeof api_routes / sizeof api_routes[0];

void api_handlers_init(void)
{
    api_auth_init();
    api_sessions_init();
    api_regions_init();
    api_enterprises_init();
    api_points_init();
    api_assets_init();
    api_credentials_init();
    api_overview_init();
    api_accounts_init();
    api_alarms_init();
    api_warnings_init();
    api_risk_init();
    api_cleaning_init();
}

/* ---- the api role of `dustwatch serve` ---------------------------------- */

static db_pool *pool;

static int role_start(struct event_base *base)
{
    (void)base; /* libmicrohttpd runs its own threads */
    api_handlers_init();
    pool = db_pool_new(g_config.database_url, (int)g_config.db_pool_size);
    if (!pool || api_start(pool, api_routes, api_n_routes) != 0)
        return -1;
    api_events_start();
    return 0;
}

static void role_stop_accepting(void)
{
    /* live streams never finish on their own: end them so the drain can */
    api_events_stop_streams();
    api_stop_accepting();
}

static void role_stop(void)
{
    if (pool)
        api_events_stop();
    api_stop();
    db_pool_free(pool);
    pool = NULL;
}

const srv_role api_role = {
    .name = "api",
    .help = "REST API and dashboard on api_listen (libmicrohttpd thread pool)",
    .start = role_start,
    .stop_accepting = role_stop_accepting,
    .in_flight = api_in_flight,
    .stop = role_stop,
};
