/* Handlers named in routes.c, one file per resource. */
#ifndef DW_API_HANDLERS_H
#define DW_API_HANDLERS_H

#include "api.h"
#include "api_params.h"
#include "db.h"

#include <time.h>

/* meta.c */
int api_version_get(api_req *r);
int api_routes_get(api_req *r);
int api_openapi_get(api_req *r);

/* sessions.c: login, logout, the caller's account, password change */
int api_login(api_req *r);
int api_logout(api_req *r);
int api_me(api_req *r);
int api_password_change(api_req *r);
/* Prepares the login semaphore and the timing-equaliser hash (idempotent;
 * the handlers also run it on first use). */
void api_sessions_init(void);

/* regions.c */
int api_regions_list(api_req *r);
int api_region_create(api_req *r);
int api_region_update(api_req *r);
int api_region_delete(api_req *r);
/* archive attachments (attachments.c, issue 17 item 8) */
int api_attachment_kinds(api_req *r);
int api_attachments_list(api_req *r);
int api_attachment_create(api_req *r);
int api_attachment_get(api_req *r);
int api_attachment_delete(api_req *r);
void api_attachments_init(void);
/* 摸排 proposals (survey.c, issue 17 item 8) and the archive checks they reuse (enterprises.c) */
int api_survey_list(api_req *r);
int api_survey_propose(api_req *r);
int api_survey_edit(api_req *r);
int api_survey_confirm(api_req *r);
int api_survey_return(api_req *r);
void api_survey_init(void);
/* 0, or -1 after replying: record is a street's valid proposal (creating: a new enterprise). */
int api_enterprise_check_record(api_req *r, json_t *record, int creating);
/* Writes a confirmed proposal inside the caller's transaction as the archive
 * routes would (id 0: create in district/street; audited enterprise_*); DB_BAD
 * with why (conflict: a code or credit code is taken). */
db_status api_enterprise_apply_tx(api_req *r, db_conn *c, json_t *record, long long id,
                                  const char *district_code, const char *street_code,
                                  long long *out_id, char *why, size_t whylen, int *conflict);
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
/* The import's parse step, pure (no request, no database; the fuzz harness
 * calls it): the CSV body (an UTF-8 BOM allowed) becomes one object per data
 * row appended to rows (its record number, header 1, under "_row": blank and
 * refused lines count, so the number is the line a spreadsheet shows), and
 * per-row refusals appended to errors (both borrowed arrays).  -1 with *missing = the lacking
 * column's header name (static) when a required column is absent, else 0. */
int api_enterprises_csv_rows(const char *body, size_t len, json_t *rows, json_t *errors,
                             const char **missing);

/* points.c */
int api_points_by_enterprise(api_req *r);
int api_point_get(api_req *r);
int api_point_update(api_req *r);
int api_point_series(api_req *r);
void api_points_init(void);

/* assets.c: dust-removal systems, cameras, gateways; creating and deleting
 * points */
int api_systems_list(api_req *r);
int api_system_create(api_req *r);
int api_system_get(api_req *r);
int api_system_update(api_req *r);
int api_system_delete(api_req *r);
int api_point_create(api_req *r);
int api_point_delete(api_req *r);
int api_cameras_list(api_req *r);
int api_camera_create(api_req *r);
int api_alarm_snapshot_get(api_req *r);
int api_camera_get(api_req *r);
int api_camera_update(api_req *r);
int api_camera_delete(api_req *r);
int api_gateways_list(api_req *r);
int api_gateway_create(api_req *r);
int api_gateway_get(api_req *r);
int api_gateway_update(api_req *r);
int api_gateway_delete(api_req *r);
void api_assets_init(void);

/* credentials.c: ingest credentials */
int api_ingest_credentials_list(api_req *r);
int api_ingest_credential_create(api_req *r);
int api_ingest_credential_revoke(api_req *r);
void api_credentials_init(void);

/* overview.c */
int api_overview_get(api_req *r);
void api_overview_init(void);

/* accounts.c */
int api_accounts_list(api_req *r);
int api_account_create(api_req *r);
/* administration of one account: {id} in the caller's scope and below it */
int api_account_update(api_req *r);
int api_account_disable(api_req *r);
int api_account_enable(api_req *r);
int api_account_unlock(api_req *r);
int api_account_reset_password(api_req *r);
int api_account_reset_totp(api_req *r);
/* accounts_totp.c: the caller's own TOTP second factor (administrators) */
int api_totp_enrol(api_req *r);
int api_totp_confirm(api_req *r);
void api_totp_init(void);
int api_apikeys_list(api_req *r);
int api_apikey_create(api_req *r);
int api_apikey_revoke(api_req *r);
int api_audit_list(api_req *r);
void api_accounts_init(void);

/* alarms.c */
int api_alarms_list(api_req *r);
int api_alarm_get(api_req *r);
int api_alarm_acknowledge(api_req *r);
int api_alarm_handle(api_req *r);
int api_alarm_close(api_req *r);
int api_alarm_shelve(api_req *r);
int api_alarm_unshelve(api_req *r);
int api_alarms_acknowledge_batch(api_req *r);
int api_labels(api_req *r);
void api_alarms_init(void);

/* warnings.c */
int api_warnings_list(api_req *r);
int api_warning_get(api_req *r);
int api_warning_sign(api_req *r);
int api_warning_feedback(api_req *r);
int api_warning_request_clearance(api_req *r);
int api_warning_approve(api_req *r);
int api_warning_return(api_req *r);
void api_warnings_init(void);

/* risk.c */
int api_risk_current(api_req *r);
int api_risk_history(api_req *r);
int api_risk_distribution(api_req *r);
int api_risk_ranking(api_req *r);
void api_risk_init(void);

/* backtest.c: the risk model in force, stored versions, backtest */
int api_risk_model_get(api_req *r);
int api_risk_model_create(api_req *r);
int api_risk_backtest(api_req *r);
void api_backtest_init(void);

/* notify.c: subscriptions, delivery log, duty roster */
int api_notify_subs_list(api_req *r);
int api_notify_sub_create(api_req *r);
int api_notify_sub_update(api_req *r);
int api_notify_sub_delete(api_req *r);
int api_notify_deliveries(api_req *r);
int api_roster_list(api_req *r);
int api_roster_add(api_req *r);
int api_roster_delete(api_req *r);
int api_notify_inbox(api_req *r);
int api_notify_inbox_read(api_req *r);
int api_notify_sms_report(api_req *r);
void api_notify_init(void);

/* cleaning.c */
int api_cleaning_areas_list(api_req *r);
int api_cleaning_area_create(api_req *r);
int api_cleaning_area_update(api_req *r);
int api_cleaning_checkin_create(api_req *r);
int api_cleaning_checkins_list(api_req *r);
int api_cleaning_photo_get(api_req *r);
int api_cleaning_compliance(api_req *r);
void api_cleaning_init(void);

/* forward.c: upward forwarding (issue 18) */
int api_forward_targets_list(api_req *r);
int api_forward_target_create(api_req *r);
int api_forward_target_get(api_req *r);
int api_forward_target_update(api_req *r);
int api_forward_target_delete(api_req *r);
int api_forward_codes_list(api_req *r);
int api_forward_code_set(api_req *r);
int api_forward_dead_list(api_req *r);
int api_forward_dead_resend(api_req *r);
int api_forward_report(api_req *r);
void api_forward_init(void);
/* filings.c */
int api_filings_list(api_req *r);
int api_filing_get(api_req *r);
int api_filing_create(api_req *r);
int api_filing_approve(api_req *r);
int api_filing_return(api_req *r);
int api_filing_withdraw(api_req *r);
int api_filing_end(api_req *r);
int api_filing_evidence(api_req *r);
int api_filing_settings(api_req *r);
void api_filings_init(void);
/* Decodes a base64 (or data: URL) JPEG/PNG upload of at most 2 MB, PDF too when
 * allow_pdf (422 evidence_invalid, else photo_invalid); *data malloc()ed.  0, or -1 after
 * replying. */
int api_decode_upload(api_req *r, json_t *v, int allow_pdf, unsigned char **data, size_t *len,
                      const char **type);

/* hazards.c */
int api_hazards_list(api_req *r);
int api_hazards_ageing(api_req *r);
int api_hazards_derive(api_req *r);
int api_hazard_get(api_req *r);
int api_hazard_photo(api_req *r);
int api_hazard_create(api_req *r);
int api_hazard_confirm(api_req *r);
int api_hazard_dismiss(api_req *r);
int api_hazard_plan(api_req *r);
int api_hazard_rectify(api_req *r);
int api_hazard_verify(api_req *r);
int api_hazard_reject(api_req *r);
void api_hazards_init(void);

/* supervision.c: 督办, 执法移交, 警示通报 */
int api_supervisions_list(api_req *r);
int api_supervision_get(api_req *r);
int api_supervision_assign(api_req *r);
int api_supervision_respond(api_req *r);
int api_supervision_close(api_req *r);
int api_referrals_list(api_req *r);
int api_referral_get(api_req *r);
int api_referral_accept(api_req *r);
int api_referral_reject(api_req *r);
int api_referral_close(api_req *r);
int api_notices_list(api_req *r);
int api_notice_candidates(api_req *r);
int api_notice_create(api_req *r);
int api_notice_get(api_req *r);
int api_notice_export(api_req *r);
int api_notice_approve(api_req *r);
int api_notice_publish(api_req *r);
void api_supervision_init(void);

/* duty.c: 系统值守 and the enterprise's to-do */
int api_duty_queue(api_req *r);
int api_enterprise_todo(api_req *r);
int api_duty_roster(api_req *r);
int api_duty_roster_add(api_req *r);
int api_duty_roster_delete(api_req *r);
int api_duty_handovers(api_req *r);
int api_duty_handover_add(api_req *r);
void api_duty_init(void);

/* spotchecks.c: online spot checks (在线抽查) */
int api_spot_checklist(api_req *r);
int api_spot_campaigns_list(api_req *r);
int api_spot_campaign_create(api_req *r);
int api_spot_campaign_get(api_req *r);
int api_spot_campaign_close(api_req *r);
int api_spot_check_get(api_req *r);
int api_spot_check_dossier(api_req *r);
int api_spot_check_record(api_req *r);
int api_spot_counts(api_req *r);
int api_spot_findings_list(api_req *r);
int api_spot_finding_get(api_req *r);
int api_spot_finding_reply(api_req *r);
int api_spot_finding_verify(api_req *r);
int api_spot_finding_reject(api_req *r);
void api_spot_init(void);

/* Inside a caller's transaction ($1/$2 scope): the overview's alarm, warning,
 * grade (risk.c) and cleaning (cleaning.c) numbers, merged into `into`. */
db_status api_risk_overview(db_conn *c, const char *kind, const char *sid, json_t *into);
db_status api_cleaning_overview(db_conn *c, const char *kind, const char *sid, json_t **out);

/* Supervision notices (notices.c): inside the change's transaction, a notice
 * to the district when the caller is an enterprise account (*notice_id 0
 * otherwise); after the commit, its live event. */
int api_equipment_notices_list(api_req *r);
int api_equipment_notice_seen(api_req *r);
void api_equipment_notices_init(void);
db_status api_equipment_notice_tx(api_req *r, db_conn *c, int64_t enterprise_id, const char *kind,
                                  const char *object, const char *detail, int64_t *notice_id);
void api_equipment_notice_publish(int64_t notice_id, int64_t enterprise_id, const char *kind,
                                  const char *object);

/* Registers every resource's statements (before the first connection). */
void api_handlers_init(void);

/* stats.c: statistics (issue 15).  api_stats_query reads the period, group and filters of the
 * request into q (strings borrowed from the request) and the period's bounds as RFC 3339 into
 * from_s/to_s: 0, or -1 after answering 400.  api_stats_fetch reads the figures under the
 * caller's scope and adds the drill-down links (new reference, NULL with *st on failure). */
struct db_stats_query;
int api_stats_query(api_req *r, struct db_stats_query *q, char from_s[32], char to_s[32]);
/* The period [from, to) of kind (day|week|month) containing the city's calendar day date
 * ("YYYY-MM-DD"); -1 when date is malformed. */
int api_stats_period_bounds(const char *kind, const char *date, time_t *from, time_t *to);
/* The ranking's order (sort, optional) into q->sort: 0, or -1 after answering 400. */
int api_stats_sort(api_req *r, struct db_stats_query *q);
json_t *api_stats_fetch(api_req *r, const struct db_stats_query *q, const char *from_s,
                        const char *to_s, db_status *st);
/* The rows of a statistics answer (borrowed) as an online-rate ranking, lowest first (new). */
json_t *api_stats_ranking(json_t *stats);
int api_statistics_get(api_req *r);
int api_data_quality_get(api_req *r);
int api_alarm_trend_get(api_req *r);
void api_stats_init(void);
/* reports.c: monthly reports and statistics exports */
int api_reports_list(api_req *r);
int api_report_create(api_req *r);
int api_report_get(api_req *r);
int api_report_xlsx(api_req *r);
int api_statistics_export(api_req *r);
void api_reports_init(void);
/* onboarding.c: cohorts' progress, mandatory-point conformance.  api_onboarding_at reads the
 * optional at (a city day that has ended: the state at its end, from the hourly rollups) into
 * *at (0: now), checking on c that the rollups reach it: 0, or -1 after answering. */
int api_onboarding_at(api_req *r, db_conn *c, time_t *at);
int api_onboarding_get(api_req *r);
int api_onboarding_conformance(api_req *r);
void api_onboarding_init(void);
/* bulk.c: tables of systems, points and cameras (import, export) */
int api_bulk_systems_export(api_req *r);
int api_bulk_systems_import(api_req *r);
int api_bulk_points_export(api_req *r);
int api_bulk_points_import(api_req *r);
int api_bulk_cameras_export(api_req *r);
int api_bulk_cameras_import(api_req *r);
void api_bulk_init(void);

#endif
