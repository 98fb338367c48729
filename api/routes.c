/* The one route table.  Data, not code: the dispatcher alone answers
 * 401/403/404/405/OPTIONS, and tests enumerate this table (GET
 * /api/v1/routes) to prove that every object route hides foreign tenants and
 * every restricted route refuses the wrong role.  It is also the source of
 * schema/openapi.json: `dustwatch routes --json` prints it and
 * schema/openapi_build.py documents each route under its operation id (the
 * unit test openapi-fresh fails when the two drift apart). */
#include "api.h"
#include "api_auth.h"
#include "api_events.h"
#include "api_handlers.h"
#include "api_role.h"

#include "db.h"
#include "db_replica.h"
#include "db_stats.h"
#include "srv_config.h"
#include "srv_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KIB    1024
#define MIB    (1024 * 1024)
#define GOV    (API_CITY | API_DISTRICT | API_STREET)
#define ADMINS (API_CITY | API_DISTRICT | API_ADMIN_ONLY)
#define CDE    (API_CITY | API_DISTRICT | API_ENTERPRISE)
#define NOTIFY (API_CITY | API_DISTRICT | API_ENTERPRISE | API_ADMIN_ONLY)

const api_route api_routes[] = {
    {"GET", "/api/v1/version", "getVersion", api_version_get, API_PUBLIC, 0},
    {"GET", "/api/v1/routes", "listRoutes", api_routes_get, API_PUBLIC, 0},
    {"GET", "/api/v1/openapi.json", "getOpenApi", api_openapi_get, API_PUBLIC, 0},
    {"POST", "/api/v1/auth/login", "login", api_login, API_PUBLIC, 4 * KIB},
    /* the way out of a forced password change: the caller, the change, logout */
    {"POST", "/api/v1/auth/logout", "logout", api_logout, API_ANY_USER | API_BEFORE_PW_CHANGE,
     1 * KIB},
    {"GET", "/api/v1/auth/me", "getMe", api_me, API_ANY_USER | API_BEFORE_PW_CHANGE, 0},
    {"POST", "/api/v1/auth/password", "changePassword", api_password_change,
     API_ANY_USER | API_BEFORE_PW_CHANGE, 4 * KIB},
    /* the caller's own second factor (administrators): enrol, then confirm */
    {"POST", "/api/v1/auth/totp", "enrolTotp", api_totp_enrol, ADMINS | API_ENTERPRISE, 0},
    {"POST", "/api/v1/auth/totp/confirm", "confirmTotp", api_totp_confirm, ADMINS | API_ENTERPRISE,
     1 * KIB},
    {"GET", "/api/v1/regions", "listRegions", api_regions_list, API_ANY_USER, 0},
    /* region administration (regions.c): streets, towns and parks */
    {"POST", "/api/v1/regions", "createRegion", api_region_create, ADMINS, 4 * KIB},
    {"PATCH", "/api/v1/regions/{id}", "updateRegion", api_region_update, ADMINS, 4 * KIB},
    {"DELETE", "/api/v1/regions/{id}", "deleteRegion", api_region_delete, ADMINS, 0},
    {"GET", "/api/v1/overview", "getOverview", api_overview_get, API_ANY_USER, 0},
    {"GET", "/api/v1/events", "streamEvents", api_events_stream, API_ANY_USER, 0},
    {"GET", "/api/v1/enterprises", "listEnterprises", api_enterprises_list, API_ANY_USER, 0},
    {"POST", "/api/v1/enterprises", "createEnterprise", api_enterprise_create,
     API_CITY | API_DISTRICT, 64 * KIB},
    {"GET", "/api/v1/enterprises/export.csv", "exportEnterprises", api_enterprises_export, GOV, 0},
    {"POST", "/api/v1/enterprises/import", "importEnterprises", api_enterprises_import,
     API_CITY | API_DISTRICT, 8 * MIB},
    {"GET", "/api/v1/enterprises/{id}", "getEnterprise", api_enterprise_get, API_ANY_USER, 0},
    {"PATCH", "/api/v1/enterprises/{id}", "updateEnterprise", api_enterprise_update,
     API_CITY | API_DISTRICT | API_ENTERPRISE, 64 * KIB},
    {"GET", "/api/v1/enterprises/{id}/points", "listEnterprisePoints", api_points_by_enterprise,
     API_ANY_USER, 0},
    {"GET", "/api/v1/enterprises/{id}/api-keys", "listApiKeys", api_apikeys_list, API_ANY_USER, 0},
    {"POST", "/api/v1/enterprises/{id}/api-keys", "createApiKey", api_apikey_create,
     API_DISTRICT | API_ENTERPRISE | API_ADMIN_ONLY, 4 * KIB},
    {"DELETE", "/api/v1/api-keys/{id}", "revokeApiKey", api_apikey_revoke,
     API_DISTRICT | API_ENTERPRISE | API_ADMIN_ONLY, 0},
    {"GET", "/api/v1/points/{id}", "getPoint", api_point_get, API_ANY_USER, 0},
    {"PATCH", "/api/v1/points/{id}", "updatePoint", api_point_update, API_CITY | API_DISTRICT,
     16 * KIB},
    {"GET", "/api/v1/points/{id}/series", "getPointSeries", api_point_series,
     API_ANY_USER | API_READ_REPLICA, 0},
    /* monitoring assets (assets.c, credentials.c).  Systems and points feed
     * the risk score: city and district write them, never the enterprise
     * being scored (as the archive and the limits).  Cameras and gateways are
     * the enterprise's own equipment: it maintains them too.  Ingest
     * credentials are keys to the data feed: administrators only, and an
     * enterprise manager may revoke a leaked one at once.  Street accounts
     * read.  DELETE refuses (409 in_use) while stored data refers to the
     * object; credentials are revoked, never deleted. */
    {"GET", "/api/v1/enterprises/{id}/systems", "listDustSystems", api_systems_list, API_ANY_USER,
     0},
    {"POST", "/api/v1/enterprises/{id}/systems", "createDustSystem", api_system_create,
     API_CITY | API_DISTRICT, 16 * KIB},
    {"GET", "/api/v1/systems/{id}", "getDustSystem", api_system_get, API_ANY_USER, 0},
    {"PATCH", "/api/v1/systems/{id}", "updateDustSystem", api_system_update,
     API_CITY | API_DISTRICT, 16 * KIB},
    {"DELETE", "/api/v1/systems/{id}", "deleteDustSystem", api_system_delete,
     API_CITY | API_DISTRICT, 0},
    {"POST", "/api/v1/enterprises/{id}/points", "createPoint", api_point_create,
     API_CITY | API_DISTRICT, 16 * KIB},
    {"DELETE", "/api/v1/points/{id}", "deletePoint", api_point_delete, API_CITY | API_DISTRICT, 0},
    {"GET", "/api/v1/enterprises/{id}/cameras", "listCameras", api_cameras_list, API_ANY_USER, 0},
    {"POST", "/api/v1/enterprises/{id}/cameras", "createCamera", api_camera_create, CDE, 16 * KIB},
    {"GET", "/api/v1/cameras/{id}", "getCamera", api_camera_get, API_ANY_USER, 0},
    {"PATCH", "/api/v1/cameras/{id}", "updateCamera", api_camera_update, CDE, 16 * KIB},
    {"DELETE", "/api/v1/cameras/{id}", "deleteCamera", api_camera_delete, CDE, 0},
    {"GET", "/api/v1/enterprises/{id}/gateways", "listGateways", api_gateways_list, API_ANY_USER,
     0},
    {"POST", "/api/v1/enterprises/{id}/gateways", "createGateway", api_gateway_create, CDE,
     16 * KIB},
    {"GET", "/api/v1/gateways/{id}", "getGateway", api_gateway_get, API_ANY_USER, 0},
    {"PATCH", "/api/v1/gateways/{id}", "updateGateway", api_gateway_update, CDE, 16 * KIB},
    {"DELETE", "/api/v1/gateways/{id}", "deleteGateway", api_gateway_delete, CDE, 0},
    {"GET", "/api/v1/enterprises/{id}/ingest-credentials", "listIngestCredentials",
     api_ingest_credentials_list, API_ANY_USER, 0},
    {"POST", "/api/v1/enterprises/{id}/ingest-credentials", "createIngestCredential",
     api_ingest_credential_create, CDE | API_ADMIN_ONLY, 4 * KIB},
    {"DELETE", "/api/v1/ingest-credentials/{id}", "revokeIngestCredential",
     api_ingest_credential_revoke, CDE | API_ADMIN_ONLY, 0},
    {"GET", "/api/v1/accounts", "listAccounts", api_accounts_list, ADMINS | API_ENTERPRISE, 0},
    {"POST", "/api/v1/accounts", "createAccount", api_account_create, ADMINS | API_ENTERPRISE,
     8 * KIB},
    /* an administrator manages the accounts of its scope it could create */
    {"PATCH", "/api/v1/accounts/{id}", "updateAccount", api_account_update, ADMINS | API_ENTERPRISE,
     8 * KIB},
    {"POST", "/api/v1/accounts/{id}/disable", "disableAccount", api_account_disable,
     ADMINS | API_ENTERPRISE, 0},
    {"POST", "/api/v1/accounts/{id}/enable", "enableAccount", api_account_enable,
     ADMINS | API_ENTERPRISE, 0},
    {"POST", "/api/v1/accounts/{id}/unlock", "unlockAccount", api_account_unlock,
     ADMINS | API_ENTERPRISE, 0},
    {"POST", "/api/v1/accounts/{id}/reset-password", "resetAccountPassword",
     api_account_reset_password, ADMINS | API_ENTERPRISE, 4 * KIB},
    {"POST", "/api/v1/accounts/{id}/reset-totp", "resetAccountTotp", api_account_reset_totp,
     ADMINS | API_ENTERPRISE, 0},
    {"GET", "/api/v1/audit", "listAudit", api_audit_list, ADMINS, 0},
    /* risk and early warning (alarms.c, warnings.c, risk.c, cleaning.c) */
    {"GET", "/api/v1/alarms", "listAlarms", api_alarms_list, API_ANY_USER, 0},
    {"GET", "/api/v1/alarms/{id}", "getAlarm", api_alarm_get, API_ANY_USER, 0},
    {"GET", "/api/v1/alarms/{id}/snapshot", "getAlarmSnapshot", api_alarm_snapshot_get,
     API_ANY_USER, 0},
    {"POST", "/api/v1/alarms/{id}/acknowledge", "acknowledgeAlarm", api_alarm_acknowledge,
     API_ENTERPRISE, 16 * KIB},
    {"POST", "/api/v1/alarms/{id}/handle", "handleAlarm", api_alarm_handle, API_ENTERPRISE,
     16 * KIB},
    {"POST", "/api/v1/alarms/{id}/close", "closeAlarm", api_alarm_close, API_ANY_USER, 16 * KIB},
    {"POST", "/api/v1/alarms/{id}/shelve", "shelveAlarm", api_alarm_shelve, API_ANY_USER, 8 * KIB},
    {"POST", "/api/v1/alarms/{id}/unshelve", "unshelveAlarm", api_alarm_unshelve, API_ANY_USER,
     8 * KIB},
    {"POST", "/api/v1/alarms/acknowledge", "acknowledgeAlarms", api_alarms_acknowledge_batch,
     API_ENTERPRISE, 16 * KIB},
    {"GET", "/api/v1/labels", "listLabels", api_labels, API_ANY_USER, 0},
    {"GET", "/api/v1/warnings", "listWarnings", api_warnings_list, API_ANY_USER, 0},
    {"GET", "/api/v1/warnings/{id}", "getWarning", api_warning_get, API_ANY_USER, 0},
    {"POST", "/api/v1/warnings/{id}/sign", "signWarning", api_warning_sign, API_ENTERPRISE,
     16 * KIB},
    {"POST", "/api/v1/warnings/{id}/feedback", "feedbackWarning", api_warning_feedback,
     API_ENTERPRISE, 16 * KIB},
    {"POST", "/api/v1/warnings/{id}/request-clearance", "requestWarningClearance",
     api_warning_request_clearance, API_ENTERPRISE, 16 * KIB},
    {"POST", "/api/v1/warnings/{id}/approve", "approveWarning", api_warning_approve, GOV, 16 * KIB},
    {"POST", "/api/v1/warnings/{id}/return", "returnWarning", api_warning_return, GOV, 16 * KIB},
    {"GET", "/api/v1/enterprises/{id}/risk", "getEnterpriseRisk", api_risk_current, API_ANY_USER,
     0},
    {"GET", "/api/v1/enterprises/{id}/risk/history", "getEnterpriseRiskHistory", api_risk_history,
     API_ANY_USER, 0},
    {"GET", "/api/v1/risk/distribution", "getRiskDistribution", api_risk_distribution, API_ANY_USER,
     0},
    {"GET", "/api/v1/risk/ranking", "getRiskRanking", api_risk_ranking, GOV, 0},
    {"GET", "/api/v1/enterprises/{id}/cleaning-areas", "listCleaningAreas", api_cleaning_areas_list,
     API_ANY_USER, 0},
    {"POST", "/api/v1/enterprises/{id}/cleaning-areas", "createCleaningArea",
     api_cleaning_area_create, API_CITY | API_DISTRICT | API_ENTERPRISE, 4 * KIB},
    {"PATCH", "/api/v1/cleaning-areas/{id}", "updateCleaningArea", api_cleaning_area_update,
     API_CITY | API_DISTRICT | API_ENTERPRISE, 4 * KIB},
    {"POST", "/api/v1/cleaning-areas/{id}/checkins", "createCheckin", api_cleaning_checkin_create,
     API_ENTERPRISE, 3 * MIB},
    {"GET", "/api/v1/enterprises/{id}/checkins", "listCheckins", api_cleaning_checkins_list,
     API_ANY_USER, 0},
    {"GET", "/api/v1/checkins/{id}/photo", "getCheckinPhoto", api_cleaning_photo_get, API_ANY_USER,
     0},
    {"GET", "/api/v1/cleaning/compliance", "getCleaningCompliance", api_cleaning_compliance,
     API_ANY_USER, 0},
    /* upward forwarding (forward.c): city and district administrators */
    {"GET", "/api/v1/forward/targets", "listForwardTargets", api_forward_targets_list, ADMINS, 0},
    {"POST", "/api/v1/forward/targets", "createForwardTarget", api_forward_target_create, ADMINS,
     8 * KIB},
    {"GET", "/api/v1/forward/targets/{id}", "getForwardTarget", api_forward_target_get, ADMINS, 0},
    {"PATCH", "/api/v1/forward/targets/{id}", "updateForwardTarget", api_forward_target_update,
     ADMINS, 8 * KIB},
    {"DELETE", "/api/v1/forward/targets/{id}", "deleteForwardTarget", api_forward_target_delete,
     ADMINS, 0},
    {"GET", "/api/v1/forward/targets/{id}/codes", "listForwardCodes", api_forward_codes_list,
     ADMINS, 0},
    {"POST", "/api/v1/forward/targets/{id}/codes", "setForwardCode", api_forward_code_set, ADMINS,
     1 * KIB},
    {"GET", "/api/v1/forward/targets/{id}/dead-letters", "listForwardDeadLetters",
     api_forward_dead_list, ADMINS, 0},
    {"GET", "/api/v1/forward/targets/{id}/report", "getForwardReport", api_forward_report, ADMINS,
     0},
    {"POST", "/api/v1/forward/dead-letters/{id}/resend", "resendForwardDeadLetter",
     api_forward_dead_resend, ADMINS, 0},
    /* statistics, onboarding and reports (stats.c) */
    {"GET", "/api/v1/statistics", "getStatistics", api_statistics_get,
     API_ANY_USER | API_READ_REPLICA, 0},
    {"GET", "/api/v1/statistics/alarm-trend", "getAlarmTrend", api_alarm_trend_get,
     API_ANY_USER | API_READ_REPLICA, 0},
    {"GET", "/api/v1/statistics/export", "exportStatistics", api_statistics_export,
     API_ANY_USER | API_READ_REPLICA, 0},
    {"GET", "/api/v1/reports", "listReports", api_reports_list, GOV | API_READ_REPLICA, 0},
    {"POST", "/api/v1/reports", "createReport", api_report_create, GOV, 1 * KIB},
    {"GET", "/api/v1/reports/{id}", "getReport", api_report_get, GOV | API_READ_REPLICA, 0},
    {"GET", "/api/v1/reports/{id}/xlsx", "getReportXlsx", api_report_xlsx, GOV | API_READ_REPLICA,
     0},
    {"GET", "/api/v1/data-quality", "getDataQuality", api_data_quality_get,
     API_ANY_USER | API_READ_REPLICA, 0},
    {"GET", "/api/v1/onboarding", "getOnboarding", api_onboarding_get,
     API_ANY_USER | API_READ_REPLICA, 0},
    {"GET", "/api/v1/onboarding/conformance", "getOnboardingConformance",
     api_onboarding_conformance, API_ANY_USER | API_READ_REPLICA, 0},
    /* risk model in force, stored versions (hot reload), backtest (backtest.c) */
    {"GET", "/api/v1/risk/model", "getRiskModel", api_risk_model_get, GOV, 0},
    {"POST", "/api/v1/risk/models", "createRiskModel", api_risk_model_create,
     API_CITY | API_ADMIN_ONLY, 64 * KIB},
    {"POST", "/api/v1/risk/backtest", "runRiskBacktest", api_risk_backtest, API_CITY, 64 * KIB},
    {"GET", "/api/v1/equipment-notices", "listEquipmentNotices", api_equipment_notices_list,
     API_ANY_USER, 0},
    {"POST", "/api/v1/equipment-notices/{id}/seen", "markEquipmentNoticeSeen",
     api_equipment_notice_seen, GOV, 1 * KIB},
    /* supervision workflows (filings.c): 停产/检修/停用 报备 */
    {"GET", "/api/v1/filings", "listFilings", api_filings_list, API_ANY_USER, 0},
    {"POST", "/api/v1/enterprises/{id}/filings", "createFiling", api_filing_create, API_ENTERPRISE,
     3 * MIB},
    {"GET", "/api/v1/filings/{id}", "getFiling", api_filing_get, API_ANY_USER, 0},
    {"GET", "/api/v1/filings/{id}/evidence", "getFilingEvidence", api_filing_evidence, API_ANY_USER,
     0},
    {"POST", "/api/v1/filings/{id}/approve", "approveFiling", api_filing_approve, GOV, 8 * KIB},
    {"POST", "/api/v1/filings/{id}/return", "returnFiling", api_filing_return, GOV, 8 * KIB},
    {"POST", "/api/v1/filings/{id}/withdraw", "withdrawFiling", api_filing_withdraw, API_ENTERPRISE,
     8 * KIB},
    {"POST", "/api/v1/filings/{id}/end", "endFiling", api_filing_end, API_ENTERPRISE, 8 * KIB},
    {"POST", "/api/v1/filing-settings", "setFilingSettings", api_filing_settings,
     API_CITY | API_DISTRICT | API_ADMIN_ONLY, 1 * KIB},
    /* hazards (hazards.c): report, plan, rectify, verify; derived proposals */
    {"GET", "/api/v1/hazards", "listHazards", api_hazards_list, API_ANY_USER, 0},
    {"GET", "/api/v1/hazards/ageing", "getHazardAgeing", api_hazards_ageing, GOV, 0},
    {"POST", "/api/v1/hazards/derive", "deriveHazards", api_hazards_derive, GOV, 1 * KIB},
    {"POST", "/api/v1/enterprises/{id}/hazards", "reportHazard", api_hazard_create, API_ANY_USER,
     3 * MIB},
    {"GET", "/api/v1/hazards/{id}", "getHazard", api_hazard_get, API_ANY_USER, 0},
    {"GET", "/api/v1/hazards/{id}/photo", "getHazardPhoto", api_hazard_photo, API_ANY_USER, 0},
    {"POST", "/api/v1/hazards/{id}/confirm", "confirmHazard", api_hazard_confirm, GOV, 8 * KIB},
    {"POST", "/api/v1/hazards/{id}/dismiss", "dismissHazard", api_hazard_dismiss, GOV, 8 * KIB},
    {"POST", "/api/v1/hazards/{id}/plan", "planHazard", api_hazard_plan, API_ENTERPRISE, 16 * KIB},
    {"POST", "/api/v1/hazards/{id}/rectify", "rectifyHazard", api_hazard_rectify, API_ENTERPRISE,
     16 * KIB},
    {"POST", "/api/v1/hazards/{id}/verify", "verifyHazard", api_hazard_verify, GOV, 16 * KIB},
    {"POST", "/api/v1/hazards/{id}/reject", "rejectHazard", api_hazard_reject, GOV, 16 * KIB},
    /* notifications: subscriptions, delivery log, duty roster (notify.c) */
    {"GET", "/api/v1/notify/subscriptions", "listSubscriptions", api_notify_subs_list, NOTIFY, 0},
    {"POST", "/api/v1/notify/subscriptions", "createSubscription", api_notify_sub_create, NOTIFY,
     8 * KIB},
    {"PATCH", "/api/v1/notify/subscriptions/{id}", "updateSubscription", api_notify_sub_update,
     NOTIFY, 8 * KIB},
    {"DELETE", "/api/v1/notify/subscriptions/{id}", "deleteSubscription", api_notify_sub_delete,
     NOTIFY, 0},
    {"GET", "/api/v1/notify/deliveries", "listDeliveries", api_notify_deliveries, NOTIFY, 0},
    {"GET", "/api/v1/enterprises/{id}/duty-roster", "getDutyRoster", api_roster_list, CDE, 0},
    {"POST", "/api/v1/enterprises/{id}/duty-roster", "addDutyRosterEntry", api_roster_add, NOTIFY,
     4 * KIB},
    {"DELETE", "/api/v1/duty-roster/{id}", "deleteDutyRosterEntry", api_roster_delete, NOTIFY, 0},
    /* 督办 / 执法 / 通报 (supervision.c) */
    {"GET", "/api/v1/supervisions", "listSupervisions", api_supervisions_list, API_ANY_USER, 0},
    {"GET", "/api/v1/supervisions/{id}", "getSupervision", api_supervision_get, API_ANY_USER, 0},
    {"POST", "/api/v1/supervisions/{id}/assign", "assignSupervision", api_supervision_assign, GOV,
     8 * KIB},
    {"POST", "/api/v1/supervisions/{id}/respond", "respondSupervision", api_supervision_respond,
     API_ANY_USER, 16 * KIB},
    {"POST", "/api/v1/supervisions/{id}/close", "closeSupervision", api_supervision_close, GOV,
     16 * KIB},
    {"GET", "/api/v1/enforcement-referrals", "listReferrals", api_referrals_list, API_ANY_USER, 0},
    {"GET", "/api/v1/enforcement-referrals/{id}", "getReferral", api_referral_get, API_ANY_USER, 0},
    {"POST", "/api/v1/enforcement-referrals/{id}/accept", "acceptReferral", api_referral_accept,
     API_CITY | API_DISTRICT, 8 * KIB},
    {"POST", "/api/v1/enforcement-referrals/{id}/reject", "rejectReferral", api_referral_reject,
     API_CITY | API_DISTRICT, 8 * KIB},
    {"POST", "/api/v1/enforcement-referrals/{id}/close", "closeReferral", api_referral_close,
     API_CITY | API_DISTRICT, 16 * KIB},
    {"GET", "/api/v1/notices", "listNotices", api_notices_list, API_ANY_USER, 0},
    {"GET", "/api/v1/notices/candidates", "listNoticeCandidates", api_notice_candidates, GOV, 0},
    {"POST", "/api/v1/notices", "draftNotice", api_notice_create, API_CITY | API_DISTRICT,
     64 * KIB},
    {"GET", "/api/v1/notices/{id}", "getNotice", api_notice_get, API_ANY_USER, 0},
    {"GET", "/api/v1/notices/{id}/export", "exportNotice", api_notice_export, API_ANY_USER, 0},
    {"POST", "/api/v1/notices/{id}/approve", "approveNotice", api_notice_approve, ADMINS, 0},
    {"POST", "/api/v1/notices/{id}/publish", "publishNotice", api_notice_publish,
     API_CITY | API_DISTRICT, 0},
    /* 系统值守 (duty.c) */
    {"GET", "/api/v1/duty/queue", "getDutyQueue", api_duty_queue, GOV, 0},
    {"GET", "/api/v1/duty/roster", "listDutyShifts", api_duty_roster, GOV, 0},
    {"POST", "/api/v1/duty/roster", "addDutyShift", api_duty_roster_add, ADMINS, 4 * KIB},
    {"GET", "/api/v1/duty/handovers", "listHandovers", api_duty_handovers, GOV, 0},
    {"POST", "/api/v1/duty/handovers", "addHandover", api_duty_handover_add,
     API_CITY | API_DISTRICT, 16 * KIB},
    {"GET", "/api/v1/enterprises/{id}/todo", "getEnterpriseTodo", api_enterprise_todo, API_ANY_USER,
     0},
    /* the district's watch: its roster, inbox and SMS delivery reports (notify.c, duty.c) */
    {"DELETE", "/api/v1/duty/roster/{id}", "deleteDutyShift", api_duty_roster_delete, ADMINS, 0},
    {"GET", "/api/v1/notify/inbox", "getNotifyInbox", api_notify_inbox, GOV, 0},
    {"POST", "/api/v1/notify/inbox/{id}/read", "readNotifyInboxItem", api_notify_inbox_read, GOV,
     0},
    /* authenticated by sms_report_token, not a session: the gateway calls it */
    {"POST", "/api/v1/notify/sms-report", "reportSmsDelivery", api_notify_sms_report, API_PUBLIC,
     4 * KIB},
    /* archive attachments (attachments.c): read like the archive, written by
     * city, district and the enterprise; files up to 8 MB as base64 */
    {"GET", "/api/v1/attachment-kinds", "listAttachmentKinds", api_attachment_kinds, API_ANY_USER,
     0},
    {"GET", "/api/v1/enterprises/{id}/attachments", "listAttachments", api_attachments_list,
     API_ANY_USER, 0},
    {"POST", "/api/v1/enterprises/{id}/attachments", "uploadAttachment", api_attachment_create, CDE,
     12 * MIB},
    {"GET", "/api/v1/attachments/{id}", "getAttachment", api_attachment_get, API_ANY_USER, 0},
    {"DELETE", "/api/v1/attachments/{id}", "deleteAttachment", api_attachment_delete, CDE, 0},
    /* bulk tables of monitoring assets (bulk.c): export to whoever reads them, import to
     * whoever may write them one by one (above); all or nothing */
    {"GET", "/api/v1/bulk/systems/export", "exportDustSystems", api_bulk_systems_export,
     API_ANY_USER, 0},
    {"POST", "/api/v1/bulk/systems/import", "importDustSystems", api_bulk_systems_import,
     API_CITY | API_DISTRICT, 4 * MIB},
    {"GET", "/api/v1/bulk/points/export", "exportPoints", api_bulk_points_export, API_ANY_USER, 0},
    {"POST", "/api/v1/bulk/points/import", "importPoints", api_bulk_points_import,
     API_CITY | API_DISTRICT, 4 * MIB},
    {"GET", "/api/v1/bulk/cameras/export", "exportCameras", api_bulk_cameras_export, API_ANY_USER,
     0},
    {"POST", "/api/v1/bulk/cameras/import", "importCameras", api_bulk_cameras_import, CDE, 4 * MIB},
    /* 摸排 entry (survey.c): streets propose, the district confirms or returns */
    {"GET", "/api/v1/survey/proposals", "listProposals", api_survey_list, GOV, 0},
    {"POST", "/api/v1/survey/proposals", "submitProposal", api_survey_propose, API_STREET,
     64 * KIB},
    {"PATCH", "/api/v1/survey/proposals/{id}", "editProposal", api_survey_edit, API_STREET,
     64 * KIB},
    {"POST", "/api/v1/survey/proposals/{id}/confirm", "confirmProposal", api_survey_confirm,
     API_CITY | API_DISTRICT, 1 * KIB},
    {"POST", "/api/v1/survey/proposals/{id}/return", "returnProposal", api_survey_return,
     API_CITY | API_DISTRICT, 4 * KIB},
    /* 在线抽查 (spotchecks.c): campaigns, checks with their dossier, findings */
    {"GET", "/api/v1/spot-checklist", "getSpotChecklist", api_spot_checklist, GOV, 0},
    {"GET", "/api/v1/spot-campaigns", "listSpotCampaigns", api_spot_campaigns_list, GOV, 0},
    {"POST", "/api/v1/spot-campaigns", "createSpotCampaign", api_spot_campaign_create, GOV,
     16 * KIB},
    {"GET", "/api/v1/spot-campaigns/{id}", "getSpotCampaign", api_spot_campaign_get, GOV, 0},
    {"POST", "/api/v1/spot-campaigns/{id}/close", "closeSpotCampaign", api_spot_campaign_close, GOV,
     0},
    {"GET", "/api/v1/spot-checks/counts", "getSpotCheckCounts", api_spot_counts, GOV, 0},
    {"GET", "/api/v1/spot-checks/{id}", "getSpotCheck", api_spot_check_get, GOV, 0},
    {"GET", "/api/v1/spot-checks/{id}/dossier", "getSpotCheckDossier", api_spot_check_dossier, GOV,
     0},
    {"POST", "/api/v1/spot-checks/{id}/record", "recordSpotCheck", api_spot_check_record, GOV,
     128 * KIB},
    {"GET", "/api/v1/spot-findings", "listSpotFindings", api_spot_findings_list, API_ANY_USER, 0},
    {"GET", "/api/v1/spot-findings/{id}", "getSpotFinding", api_spot_finding_get, API_ANY_USER, 0},
    {"POST", "/api/v1/spot-findings/{id}/reply", "replySpotFinding", api_spot_finding_reply,
     API_ENTERPRISE, 16 * KIB},
    {"POST", "/api/v1/spot-findings/{id}/verify", "verifySpotFinding", api_spot_finding_verify, GOV,
     16 * KIB},
    {"POST", "/api/v1/spot-findings/{id}/reject", "rejectSpotFinding", api_spot_finding_reject, GOV,
     16 * KIB},
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
    api_totp_init();
    api_alarms_init();
    api_warnings_init();
    api_risk_init();
    api_cleaning_init();
    api_forward_init();
    api_stats_init();
    api_onboarding_init();
    api_reports_init();
    api_backtest_init();
    api_equipment_notices_init();
    api_filings_init();
    api_hazards_init();
    api_notify_init();
    api_supervision_init();
    api_duty_init();
    api_attachments_init();
    api_bulk_init();
    api_survey_init();
    api_spot_init();
}

/* ---- `dustwatch routes`: the table without a server or a database ------- */

int api_routes_main(int argc, char **argv)
{
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            as_json = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: dustwatch routes [--json]\n\nPrints the REST API's route table: "
                   "method, path, operation id,\nroles and body limit.  --json prints what GET "
                   "/api/v1/routes answers\n(schema/openapi_build.py reads it).\n");
            return 0;
        } else {
            fprintf(stderr, "dustwatch routes: unknown option \"%s\"\n", argv[i]);
            return 2;
        }
    }
    if (as_json) {
        json_t *j = api_route_table_json(api_routes, api_n_routes);
        int rc = json_dumpf(j, stdout, JSON_INDENT(1)) == 0 && fputc('\n', stdout) != EOF ? 0 : 1;
        json_decref(j);
        return rc;
    }
    for (size_t i = 0; i < api_n_routes; i++) {
        const api_route *rt = &api_routes[i];
        char roles[96] = "";
        const char *names[7];
        size_t nn = api_route_role_names(rt->roles, 1, names);
        for (size_t b = 0; b < nn; b++)
            snprintf(roles + strlen(roles), sizeof roles - strlen(roles), "%s%s",
                     roles[0] ? "," : "", names[b]);
        printf("%-6s %-50s %-28s %-10zu %s\n", rt->method, rt->pattern, rt->operation_id,
               rt->max_body, roles[0] ? roles : "public");
    }
    return 0;
}

/* ---- the api role of `dustwatch serve` ---------------------------------- */

static db_pool *pool;
static db_replica *replica; /* database_read_url's, NULL without one */

static int role_start(struct event_base *base)
{
    (void)base; /* libmicrohttpd runs its own threads */
    api_handlers_init();
    const db_timeouts request_timeouts = db_timeouts_configured(DB_FOR_REQUESTS);
    pool = db_pool_new(g_config.database_url, (int)g_config.db_pool_size, &request_timeouts);
    if (!pool || (g_config.db_pool_warm && db_pool_warm(pool, db_stats_warm) != 0))
        return -1;
    if (g_config.database_read_url[0]) {
        replica = db_replica_new(g_config.database_read_url, g_config.database_url,
                                 (int)g_config.db_pool_size, &request_timeouts,
                                 (int)g_config.db_read_max_lag_ms);
        if (!replica || (g_config.db_pool_warm && db_replica_warm(replica, db_stats_warm) != 0))
            return -1;
        api_set_read_replica(replica);
        LOG_INFO("api reads may go to a replica", "max_lag_ms=%ld",
                 (long)g_config.db_read_max_lag_ms);
    }
    if (api_start(pool, api_routes, api_n_routes) != 0)
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
    db_replica_free(replica);
    replica = NULL;
    api_set_read_replica(NULL);
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
