/*
 * sim_fleet — the simulator's fleet model: fleet-file parsing, per-point
 * sampling on simulated time, and building HTTP requests in each dialect.
 *
 * Pure apart from sim_fleet_load() reading the file: no network, no clock.
 *
 * Fleet file (written by the demo seeder):
 *   {"ingest_url": "http://127.0.0.1:8081",
 *    "enterprises": [{"code": "<qybm>", "dialect": "native|hebei|mem",
 *        "api_key": "...",                       (native)
 *        "des_key": "8 chars", "des_iv": "8 chars"?   (hebei; iv default 12345678)
 *        "appid": "...", "appsecret": "...", "sm4_key_hex": "32 hex", "sm4_iv_hex": "32 hex" (mem)
 *        "gateway": "..."?                       (default code + "01")
 *        "points": [{"code", "kind", "normal"?, "noise"?, "interval_s"?}],
 *        "scenario": "none|hopper_temp_climb|...",
 *        "scenario_delay_s"?: 120, "scenario_ramp_s"?: 600, "outage_s"?: 900,
 *        "shift"?: "day|round_the_clock"}]}     (day: producing 08:00-20:00 Beijing)
 * Unknown fields are ignored (the seeder may add its own).
 *
 * Ownership: sim_fleet owns everything it holds; sim_fleet_free() releases
 * it.  sim_request strings are malloc'd; sim_request_free() releases them.
 */
#ifndef DW_SIM_FLEET_H
#define DW_SIM_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "sim_signal.h"

typedef enum { SIM_D_NATIVE, SIM_D_HEBEI, SIM_D_MEM } sim_dialect;

const char *sim_dialect_name(sim_dialect d);
int sim_dialect_parse(const char *s); /* -1 if unknown */

typedef struct {
    char *code;
    sim_point sig;
    int interval_s;
    int64_t next_us; /* next sample time (simulated UTC) */
} sim_fpoint;

typedef struct {
    char *point;
    int64_t ts_us;
    double value;
    int digital;
} sim_sample;

typedef struct {
    char *code;    /* qybm */
    char *gateway; /* wgbm / native "gateway" */
    sim_dialect dialect;
    char *api_key;
    int has_des;
    unsigned char des_key[8], des_iv[8];
    char *appid, *appsecret;
    int has_sm4;
    unsigned char sm4_key[16], sm4_iv[16];
    sim_fpoint *points;
    size_t n_points;
    sim_plan plan;
    int64_t scenario_delay_us; /* plan.start_us = sim start + delay */
    sim_rng rng;
    /* readings held back during an outage, time-ordered */
    sim_sample *backlog;
    size_t n_backlog, cap_backlog;
} sim_enterprise;

typedef struct {
    char *ingest_url;
    sim_enterprise *ents;
    size_t n_ents;
} sim_fleet;

/* Parse / load.  0, or -1 with a message in err. */
int sim_fleet_parse(const char *json, size_t len, sim_fleet *f, char *err, size_t errlen);
int sim_fleet_load(const char *path, sim_fleet *f, char *err, size_t errlen);
void sim_fleet_free(sim_fleet *f);

/* Does the enterprise carry the credentials dialect d needs? */
int sim_enterprise_can(const sim_enterprise *e, sim_dialect d);

/* Start the simulation at sim_start_us: seeds each enterprise's PRNG from
 * seed and its code, aligns the first sample of every point to a whole
 * second, schedules the scenario. */
void sim_fleet_start(sim_fleet *f, int64_t sim_start_us, uint64_t seed);

/* Collect every sample due at or before sim_now_us (at most max, oldest
 * first per point).  *out malloc'd array (free with sim_samples_free).
 * force = 1 samples every point once at sim_now_us regardless of schedule
 * (for --once).  0 / -1. */
int sim_enterprise_collect(sim_enterprise *e, int64_t sim_now_us, int force, size_t max,
                           sim_sample **out, size_t *n);
void sim_samples_free(sim_sample *s, size_t n);

/* Outage back-log: append samples (takes ownership of their point strings;
 * the array itself stays the caller's), and take up to max oldest ones. */
int sim_backlog_push(sim_enterprise *e, sim_sample *s, size_t n);
int sim_backlog_take(sim_enterprise *e, size_t max, sim_sample **out, size_t *n);

typedef struct {
    char *path;
    char *body;
    /* extra headers besides Content-Type; NULL names end the list */
    char *hdr_name[3];
    char *hdr_value[3];
} sim_request;

/* Build the readings request for dialect d.  idem_key goes into an
 * Idempotency-Key header.  0 / -1. */
int sim_build_readings(const sim_enterprise *e, sim_dialect d, const sim_sample *s, size_t n,
                       const char *idem_key, sim_request *req);
void sim_request_free(sim_request *r);

#endif /* DW_SIM_FLEET_H */
