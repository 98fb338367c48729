/* Unit tests for server/sim_fleet: fleet parsing, sampling schedule,
 * outage back-log, and requests in each dialect decoded back by the real
 * ingest decoders (end-to-end without a network). */
#include "ing_hebei.h"
#include "ing_mem.h"
#include "sim_fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_check.h"

#define S  INT64_C(1000000)
#define T0 (INT64_C(1795910400000000) + 2 * 3600 * S) /* 10:00 Beijing */

static const char *FLEET =
    "{\"ingest_url\":\"http://127.0.0.1:8081\",\"enterprises\":["
    "{\"code\":\"91130100MA0000001A\",\"dialect\":\"native\",\"api_key\":\"k-native\",\"scenario\":"
    "\"hopper_temp_climb\","
    " \"points\":[{\"code\":\"N-HT\",\"kind\":\"hopper_temp\",\"normal\":35.0,\"noise\":0.5,"
    "\"interval_s\":10},"
    "            {\"code\":\"N-DP\",\"kind\":\"pressure_diff\",\"interval_s\":30},"
    "            {\"code\":\"N-AL\",\"kind\":\"airlock_fault\"}]},"
    "{\"code\":\"91130100MA0000002B\",\"dialect\":\"hebei\",\"des_key\":\"abcdefgh\",\"scenario\":"
    "\"outage_backfill\",\"outage_s\":60,\"scenario_delay_s\":30,"
    " \"points\":[{\"code\":\"H-WL\",\"kind\":\"water_level\",\"interval_s\":10},{\"code\":\"H-"
    "SP\",\"kind\":\"spark\",\"interval_s\":5}]},"
    "{\"code\":\"91130100MA0000003C\",\"dialect\":\"mem\",\"appid\":\"APP3\",\"appsecret\":"
    "\"sec3\","
    " \"sm4_key_hex\":\"0123456789abcdeffedcba9876543210\",\"sm4_iv_hex\":"
    "\"000102030405060708090a0b0c0d0e0f\",\"shift\":\"round_the_clock\","
    " \"points\":[{\"code\":\"M-H2\",\"kind\":\"hydrogen_lel\",\"interval_s\":60}],\"extra_seeder_"
    "field\":1}]}";

static void test_parse(void)
{
    sim_fleet f;
    char err[256];
    CHECK(sim_fleet_parse(FLEET, strlen(FLEET), &f, err, sizeof err) == 0);
    CHECK(f.n_ents == 3 && strcmp(f.ingest_url, "http://127.0.0.1:8081") == 0);
    CHECK(f.ents[0].dialect == SIM_D_NATIVE && f.ents[1].dialect == SIM_D_HEBEI &&
          f.ents[2].dialect == SIM_D_MEM);
    CHECK(strcmp(f.ents[0].gateway, "91130100MA0000001A01") == 0);
    CHECK(f.ents[0].plan.scenario == SIM_SC_HOPPER_TEMP_CLIMB &&
          f.ents[0].points[1].sig.normal == 1000.0);
    CHECK(f.ents[0].points[2].interval_s == 10);
    CHECK(memcmp(f.ents[1].des_iv, "12345678", 8) == 0 &&
          memcmp(f.ents[1].des_key, "abcdefgh", 8) == 0);
    CHECK(f.ents[2].sm4_key[0] == 0x01 && f.ents[2].sm4_iv[15] == 0x0f);
    CHECK(!f.ents[0].plan.round_the_clock && f.ents[2].plan.round_the_clock);
    /* 04:00 Beijing: only the round-the-clock plant runs; 10:00 both */
    int64_t night = T0 - 6 * 3600 * S;
    CHECK(!sim_plan_running(&f.ents[1].plan, night) && sim_plan_running(&f.ents[2].plan, night));
    CHECK(sim_plan_running(&f.ents[1].plan, T0) && sim_plan_running(&f.ents[2].plan, T0));
    CHECK(sim_enterprise_can(&f.ents[0], SIM_D_NATIVE) &&
          !sim_enterprise_can(&f.ents[0], SIM_D_HEBEI));
    CHECK(sim_enterprise_can(&f.ents[2], SIM_D_MEM) &&
          !sim_enterprise_can(&f.ents[2], SIM_D_NATIVE));
    sim_fleet_free(&f);
    sim_fleet_free(&f); /* idempotent */

    static const char *const bad[] = {
        "{",
        "{}",
        "{\"enterprises\":[{}]}",
        "{\"enterprises\":[{\"code\":\"X\",\"dialect\":\"smtp\",\"points\":[]}]}",
        "{\"enterprises\":[{\"code\":\"X\",\"points\":[{\"code\":\"P\",\"kind\":\"volts\"}]}]}",
        "{\"enterprises\":[{\"code\":\"X\",\"des_key\":\"short\",\"points\":[]}]}",
        "{\"enterprises\":[{\"code\":\"X\",\"sm4_key_hex\":\"00\",\"sm4_iv_hex\":\"00\",\"points\":"
        "[]}]}",
        "{\"enterprises\":[{\"code\":\"X\",\"scenario\":\"meteor\",\"points\":[]}]}",
        "{\"enterprises\":[{\"code\":\"X\",\"shift\":\"night\",\"points\":[]}]}",
        "{\"enterprises\":[{\"code\":\"X\"}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK(sim_fleet_parse(bad[i], strlen(bad[i]), &f, err, sizeof err) == -1 && err[0] != '\0');
        CHECK(f.ents == NULL);
    }
    CHECK(sim_fleet_load("/nonexistent/fleet.json", &f, err, sizeof err) == -1);
}

static void test_schedule(void)
{
    sim_fleet f, g;
    char err[256];
    CHECK(sim_fleet_parse(FLEET, strlen(FLEET), &f, err, sizeof err) == 0);
    CHECK(sim_fleet_parse(FLEET, strlen(FLEET), &g, err, sizeof err) == 0);
    sim_fleet_start(&f, T0 + 123456, 7);
    sim_fleet_start(&g, T0 + 123456, 7);
    sim_sample *s, *s2;
    size_t n, n2;
    /* 60 s of a native enterprise: 6 + 2 + 6 samples, whole seconds, time ordered */
    CHECK(sim_enterprise_collect(&f.ents[0], T0 + 60 * S - 1, 0, 10000, &s, &n) == 0);
    CHECK(sim_enterprise_collect(&g.ents[0], T0 + 60 * S - 1, 0, 10000, &s2, &n2) == 0);
    CHECK(n == 14 && n2 == 14);
    for (size_t i = 0; i < n; i++) {
        CHECK(s[i].ts_us % S == 0 && s[i].ts_us >= T0 && s[i].ts_us < T0 + 60 * S);
        CHECK(i == 0 || s[i - 1].ts_us <= s[i].ts_us);
        CHECK(strcmp(s[i].point, s2[i].point) == 0 &&
              s[i].value == s2[i].value); /* deterministic */
        CHECK(s[i].digital == (strcmp(s[i].point, "N-AL") == 0));
    }
    sim_samples_free(s, n);
    sim_samples_free(s2, n2);
    /* nothing more due yet; max caps a big catch-up */
    CHECK(sim_enterprise_collect(&f.ents[0], T0 + 60 * S - 1, 0, 10000, &s, &n) == 0 && n == 0);
    CHECK(sim_enterprise_collect(&f.ents[0], T0 + 3600 * S, 0, 100, &s, &n) == 0 && n <= 300 &&
          n >= 100);
    sim_samples_free(s, n);
    /* force: one sample per point now */
    CHECK(sim_enterprise_collect(&f.ents[1], T0, 1, 10000, &s, &n) == 0 && n == 2);
    sim_samples_free(s, n);

    /* outage back-log keeps order and ownership */
    sim_enterprise *e = &g.ents[1];
    CHECK(e->plan.scenario == SIM_SC_OUTAGE_BACKFILL && e->plan.start_us == T0 + 30 * S);
    CHECK(sim_plan_in_outage(&e->plan, T0 + 40 * S) && !sim_plan_in_outage(&e->plan, T0 + 90 * S));
    size_t pushed = 0;
    for (int64_t t = T0; t < T0 + 90 * S; t += 10 * S) {
        CHECK(sim_enterprise_collect(e, t, 0, 10000, &s, &n) == 0);
        if (sim_plan_in_outage(&e->plan, t)) {
            CHECK(sim_backlog_push(e, s, n) == 0);
            pushed += n;
            free(s); /* strings now owned by the back-log */
        } else {
            sim_samples_free(s, n);
        }
    }
    CHECK(pushed > 0 && e->n_backlog == pushed);
    int64_t last = 0;
    size_t taken = 0;
    while (e->n_backlog > 0) {
        CHECK(sim_backlog_take(e, 5, &s, &n) == 0 && n > 0 && n <= 5);
        for (size_t i = 0; i < n; i++) {
            CHECK(s[i].ts_us >= last);
            last = s[i].ts_us;
        }
        taken += n;
        sim_samples_free(s, n);
    }
    CHECK(taken == pushed);
    sim_fleet_free(&f);
    sim_fleet_free(&g);
}

static const char *header(const sim_request *r, const char *name)
{
    for (int i = 0; i < 3 && r->hdr_name[i] != NULL; i++)
        if (strcmp(r->hdr_name[i], name) == 0)
            return r->hdr_value[i];
    return NULL;
}

static void test_requests_decode(void)
{
    sim_fleet f;
    char err[256];
    CHECK(sim_fleet_parse(FLEET, strlen(FLEET), &f, err, sizeof err) == 0);
    sim_fleet_start(&f, T0, 1);
    ing_limits lim;
    ing_limits_default(&lim);
    for (size_t i = 0; i < f.n_ents; i++) {
        sim_enterprise *e = &f.ents[i];
        sim_sample *s;
        size_t n;
        CHECK(sim_enterprise_collect(e, T0 + 120 * S, 0, 10000, &s, &n) == 0 && n > 0);
        sim_request req;
        CHECK(sim_build_readings(e, e->dialect, s, n, "idem-1", &req) == 0);
        CHECK(strcmp(header(&req, "Idempotency-Key"), "idem-1") == 0);
        ing_batch *b = NULL;
        ing_error ie = {0};
        if (e->dialect == SIM_D_NATIVE) {
            CHECK(strcmp(req.path, "/ingest/v1/readings") == 0);
            CHECK(strcmp(header(&req, "X-Api-Key"), "k-native") == 0);
            CHECK(ing_decode_native(ING_KIND_READINGS, req.body, strlen(req.body), &lim,
                                    T0 + 120 * S, &b, &ie) == 0);
        } else if (e->dialect == SIM_D_HEBEI) {
            CHECK(strcmp(req.path, "/rabbitmqfcsb/api/rtsData") == 0);
            ing_hebei_outer o;
            CHECK(ing_hebei_parse_outer(req.body, strlen(req.body), &lim, &o, &ie) == 0);
            CHECK(ing_hebei_decode(ING_KIND_READINGS, &o, e->des_key, e->des_iv, &lim, T0 + 120 * S,
                                   &b, &ie) == 0);
            CHECK(b != NULL && strcmp(b->enterprise_code, e->code) == 0 &&
                  strcmp(b->gateway_code, e->gateway) == 0);
            ing_hebei_outer_free(&o);
        } else {
            CHECK(strcmp(req.path, "/mem/v1/readings") == 0);
            CHECK(strcmp(header(&req, "appsecret"), "sec3") == 0);
            ing_mem_outer o;
            CHECK(ing_mem_parse_outer(req.body, strlen(req.body), &lim, &o, &ie) == 0);
            CHECK(strcmp(o.appid, "APP3") == 0);
            CHECK(ing_mem_decode(ING_KIND_READINGS, &o, e->sm4_key, e->sm4_iv, "native", &lim,
                                 T0 + 120 * S, &b, &ie) == 0);
            ing_mem_outer_free(&o);
        }
        if (b == NULL) {
            fprintf(stderr, "%s: %s %s\n", e->code, ie.code, ie.detail);
        } else {
            CHECK(b->n_readings == n);
            for (size_t k = 0; k < n && k < b->n_readings; k++) {
                CHECK(b->readings[k].reject == ING_REJ_NONE);
                CHECK(strcmp(b->readings[k].point, s[k].point) == 0);
                CHECK(b->readings[k].ts_us == s[k].ts_us);
                double tol = e->dialect == SIM_D_HEBEI ? 0.005 : 0.0005;
                CHECK(b->readings[k].value > s[k].value - tol &&
                      b->readings[k].value < s[k].value + tol);
            }
        }
        ing_batch_free(b);
        /* the other dialects lack credentials */
        sim_request r2;
        CHECK(sim_build_readings(e, (sim_dialect)((e->dialect + 1) % 3), s, n, "x", &r2) == -1);
        sim_request_free(&req);
        sim_samples_free(s, n);
    }
    sim_fleet_free(&f);
}

int main(void)
{
    test_parse();
    test_schedule();
    test_requests_decode();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("test_sim_fleet: all passed\n");
    return 0;
}
