#include "cli_demo.h"

#include "srv_secret.h"

#include "db.h"
#include "db_admin.h"
#include "db_demo.h"
#include "db_hazards.h"
#include "db_spot.h"
#include "srv_config.h"
#include "srv_cred.h"
#include "srv_log.h"

#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

/* per enterprise, far above the 1-4 a real one has */
#define MAX_SYSTEMS 32

static const char seed_usage[] =
    "usage: dustwatch demo seed --city FILE --fleet FILE [--ingest-url URL]\n"
    "           [--config FILE]\n"
    "\n"
    "Loads the demo city described by --city (the JSON deploy/demo/gen_demo.py\n"
    "prints: no secrets) into a database without a city, in one transaction,\n"
    "issues every demo gateway a credential the way `dustwatch admin\n"
    "create-credential` does, and writes the simulator's fleet file with the\n"
    "secrets to --fleet (mode 0600).  --ingest-url goes into the fleet file\n"
    "(default: http:// and ingest_listen).\n"
    "\n"
    "When the demo city is already loaded nothing is written, unless the fleet\n"
    "file is missing and the database holds every enterprise, gateway and point\n"
    "of the description: the database keeps only hashes of the secrets, so the\n"
    "demo gateways' credentials are then re-issued (the old ones revoked) for a\n"
    "new fleet file.  A database holding another city is left alone.  Prints one\n"
    "summary line.  Connects with migrate_database_url (the owner role; falls\n"
    "back to database_url).  Audited as \"admin-cli\".\n";

static void demo_usage(FILE *out)
{
    fprintf(out, "usage: dustwatch demo COMMAND [OPTIONS]\n\n"
                 "The demo city (never for a database with real data).\n\n"
                 "commands:\n"
                 "  seed   load the demo city and write the simulator's fleet file\n"
                 "\n`dustwatch demo seed --help` describes it.\n");
}

/* ---- the city description ---------------------------------------------- */

typedef enum {
    SEED_LOADED,   /* the city went in, the fleet file with it */
    SEED_KEPT,     /* already loaded, the fleet file is there */
    SEED_REISSUED, /* already loaded, the fleet file made anew */
    SEED_MISMATCH, /* already loaded from some other description */
    SEED_OTHER,    /* another city: untouched */
} seed_outcome;

typedef struct region_id {
    const char *code;
    int64_t id;
} region_id;

typedef struct seed_run {
    json_t *city; /* the description, borrowed */
    const char *city_path;
    const char *fleet_path;
    const char *ingest_url;
    const char *marker; /* the detailed district: listed first */
    int fleet_exists;
    seed_outcome outcome;
    char tmp_path[PATH_MAX]; /* the fleet, written before COMMIT, renamed after */
    region_id *regions;
    size_t n_regions;
    long long issued, revoked;
    char err[PATH_MAX + 600]; /* what went wrong, for the operator */
} seed_run;

/* Field readers: a missing or mistyped field leaves its message in r->err
 * (the first one wins) and answers a harmless value, so a row is read in
 * full and checked once. */
static void bad_field(seed_run *r, const char *what, const char *key, const char *want)
{
    if (!r->err[0])
        snprintf(r->err, sizeof r->err, "%s: %s: \"%s\" is missing or not %s", r->city_path, what,
                 key, want);
}

static const char *jstr(seed_run *r, const char *what, json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    if (!v)
        bad_field(r, what, key, "text");
    return v ? v : "";
}

static double jnum(seed_run *r, const char *what, json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        bad_field(r, what, key, "a number");
    return json_number_value(v);
}

static int jint(seed_run *r, const char *what, json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        bad_field(r, what, key, "an integer");
    return (int)json_integer_value(v);
}

static int jbool(seed_run *r, const char *what, json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_boolean(v))
        bad_field(r, what, key, "true or false");
    return json_is_true(v);
}

/* NULL for a JSON null (no such limit), else slot holding the number. */
static const double *jopt(seed_run *r, const char *what, json_t *o, const char *key, double *slot)
{
    json_t *v = json_object_get(o, key);
    if (json_is_null(v))
        return NULL;
    *slot = jnum(r, what, o, key);
    return slot;
}

static json_t *jarr(seed_run *r, const char *what, json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_array(v)) {
        bad_field(r, what, key, "a list");
        return NULL;
    }
    return v;
}

static int64_t region_lookup(seed_run *r, const char *what, const char *code)
{
    for (size_t i = 0; i < r->n_regions; i++)
        if (strcmp(r->regions[i].code, code) == 0)
            return r->regions[i].id;
    if (!r->err[0])
        snprintf(r->err, sizeof r->err, "%s: %s: no region \"%s\" in the description", r->city_path,
                 what, code);
    return 0;
}

/* DB_BAD for a broken description (message in r->err), else st. */
static db_status checked(seed_run *r, db_status st)
{
    return r->err[0] ? DB_BAD : st;
}

/* ---- the fleet file ---------------------------------------------------- */

/* One enterprise as the simulator reads it (sim_fleet.h), with the secrets
 * of cred.  A new reference. */
static json_t *fleet_entry(seed_run *r, json_t *e, const srv_cred *cred)
{
    json_t *gw = json_object_get(e, "gateway"), *sim = json_object_get(e, "sim");
    const char *code = jstr(r, "enterprise", e, "code");
    json_t *f = json_object();
    json_object_set_new(f, "code", json_string(code));
    json_object_set_new(f, "name", json_string(jstr(r, code, e, "name")));
    json_object_set_new(f, "status", json_string(jstr(r, code, e, "status")));
    json_object_set_new(f, "dialect", json_string(jstr(r, code, gw, "dialect")));
    json_object_set_new(f, "gateway", json_string(jstr(r, code, gw, "code")));
    if (cred->kind == SRV_CRED_API_KEY) {
        json_object_set_new(f, "api_key", json_string(cred->api_key));
    } else if (cred->kind == SRV_CRED_HEBEI_DES) {
        json_object_set_new(f, "des_key", json_string(cred->des_key));
        json_object_set_new(f, "des_iv", json_string(g_config.ingest_hebei_iv));
    } else {
        json_object_set_new(f, "appid", json_string(cred->appid));
        json_object_set_new(f, "appsecret", json_string(cred->appsecret));
        json_object_set_new(f, "sm4_key_hex", json_string(cred->sm4_key_hex));
        json_object_set_new(f, "sm4_iv_hex", json_string(cred->sm4_iv_hex));
    }
    json_t *points = json_array(), *pts = jarr(r, code, e, "points");
    size_t i;
    json_t *p;
    json_array_foreach(pts, i, p)
    {
        json_t *ps = json_object_get(p, "sim");
        json_t *fp = json_object();
        json_object_set_new(fp, "code", json_string(jstr(r, code, p, "code")));
        json_object_set_new(fp, "kind", json_string(jstr(r, code, ps, "kind")));
        json_object_set(fp, "normal", json_object_get(ps, "normal"));
        json_object_set(fp, "noise", json_object_get(ps, "noise"));
        json_object_set_new(fp, "interval_s",
                            json_integer(jint(r, code, p, "expected_interval_s")));
        json_array_append_new(points, fp);
    }
    json_object_set_new(f, "points", points);
    json_object_set_new(f, "scenario", json_string(jstr(r, code, sim, "scenario")));
    json_t *delay = json_object_get(sim, "scenario_delay_s");
    if (delay)
        json_object_set(f, "scenario_delay_s", delay);
    return f;
}

/* Writes the fleet next to its final place (mkstemp: mode 0600), so the
 * rename after COMMIT is atomic and the secrets are never world-readable. */
static int fleet_write_tmp(seed_run *r, json_t *fleet)
{
    const char *slash = strrchr(r->fleet_path, '/');
    int dirlen = slash ? (int)(slash - r->fleet_path) + 1 : 0;
    snprintf(r->tmp_path, sizeof r->tmp_path, "%.*s.fleet-XXXXXX", dirlen, r->fleet_path);
    int fd = mkstemp(r->tmp_path);
    if (fd < 0) {
        snprintf(r->err, sizeof r->err, "could not create a file beside %s: %m", r->fleet_path);
        r->tmp_path[0] = '\0';
        return -1;
    }
    FILE *out = fdopen(fd, "w");
    int ok = out && json_dumpf(fleet, out, JSON_INDENT(1) | JSON_REAL_PRECISION(15)) == 0 &&
             fputc('\n', out) != EOF && fflush(out) == 0 && fsync(fd) == 0;
    if (out ? fclose(out) != 0 : close(fd) != 0)
        ok = 0;
    if (!ok) {
        snprintf(r->err, sizeof r->err, "could not write %s: %m", r->tmp_path);
        return -1;
    }
    return 0;
}

static void fleet_discard_tmp(seed_run *r)
{
    if (r->tmp_path[0])
        (void)unlink(r->tmp_path);
    r->tmp_path[0] = '\0';
}

/* Mints the enterprise's credential of the kind the description names and
 * stores it (label: the description's).  0, or -1 with r->err set or *st a
 * database failure. */
static int issue(db_conn *c, seed_run *r, json_t *e, int64_t enterprise_id, srv_cred *cred,
                 db_status *st)
{
    json_t *cj = json_object_get(e, "credential");
    const char *code = jstr(r, "enterprise", e, "code");
    srv_cred_kind kind;
    if (srv_cred_kind_parse(jstr(r, code, cj, "kind"), &kind) != 0 || r->err[0]) {
        if (!r->err[0])
            snprintf(r->err, sizeof r->err, "%s: %s: unknown credential kind", r->city_path, code);
        *st = DB_BAD;
        return -1;
    }
    (void)srv_cred_generate(kind, NULL, cred);
    int64_t id;
    db_diag diag;
    *st =
        db_admin_credential_create(c, enterprise_id, jstr(r, code, cj, "label"), cred, &id, &diag);
    if (*st != DB_OK) {
        snprintf(r->err, sizeof r->err, "could not issue the credential of enterprise %s: %s", code,
                 diag.message[0] ? diag.message : "database error");
        return -1;
    }
    r->issued++;
    return 0;
}

/* ---- loading ----------------------------------------------------------- */

static const char *os_user(void)
{
    struct passwd *pw = getpwuid(geteuid());
    return pw && pw->pw_name ? pw->pw_name : "?";
}

static db_status audit(db_conn *c, seed_run *r, const char *action)
{
    const char *city = json_string_value(json_object_get(json_object_get(r->city, "city"), "code"));
    char object[64], detail[256];
    snprintf(object, sizeof object, "city:%s", city ? city : "?");
    snprintf(detail, sizeof detail, "credentials_issued=%lld credentials_revoked=%lld os_user=%s",
             r->issued, r->revoked, os_user());
    return db_admin_audit(c, action, object, "ok", detail, NULL);
}

static db_status load_regions(db_conn *c, seed_run *r)
{
    json_t *city = json_object_get(r->city, "city");
    json_t *districts = jarr(r, "city", r->city, "districts");
    json_t *streets = jarr(r, "city", r->city, "streets");
    if (r->err[0])
        return DB_BAD;
    r->n_regions = 0;
    r->regions =
        calloc(1 + json_array_size(districts) + json_array_size(streets), sizeof *r->regions);
    if (!r->regions)
        return DB_HARD;
    int64_t city_id = 0;
    const char *code = jstr(r, "city", city, "code");
    db_status st = checked(r, DB_OK);
    if (st == DB_OK)
        st = db_demo_region_create(c, code, jstr(r, "city", city, "name"), "city", "city", 0,
                                   &city_id);
    size_t i;
    json_t *d;
    json_array_foreach(districts, i, d)
    {
        if (st != DB_OK)
            return st;
        region_id *ri = &r->regions[r->n_regions];
        ri->code = jstr(r, "district", d, "code");
        const char *name = jstr(r, ri->code, d, "name");
        if ((st = checked(r, DB_OK)) == DB_OK)
            st = db_demo_region_create(c, ri->code, name, "district", "district", city_id, &ri->id);
        r->n_regions++;
    }
    json_array_foreach(streets, i, d)
    {
        if (st != DB_OK)
            return st;
        region_id *ri = &r->regions[r->n_regions];
        ri->code = jstr(r, "street", d, "code");
        const char *name = jstr(r, ri->code, d, "name"), *kind = jstr(r, ri->code, d, "kind");
        int64_t parent = region_lookup(r, ri->code, jstr(r, ri->code, d, "district"));
        if ((st = checked(r, DB_OK)) == DB_OK)
            st = db_demo_region_create(c, ri->code, name, "street", kind, parent, &ri->id);
        r->n_regions++;
    }
    return st;
}

static db_status load_points(db_conn *c, seed_run *r, json_t *e, const char *code,
                             int64_t enterprise_id, const int64_t system_ids[], json_t *systems)
{
    size_t i;
    json_t *p;
    json_array_foreach(jarr(r, code, e, "points"), i, p)
    {
        const char *pcode = jstr(r, code, p, "code");
        const char *sys = jstr(r, pcode, p, "system");
        int64_t system_id = 0;
        size_t k;
        json_t *s;
        json_array_foreach(systems, k, s)
        {
            const char *scode = json_string_value(json_object_get(s, "code"));
            if (scode && strcmp(scode, sys) == 0 && k < MAX_SYSTEMS)
                system_id = system_ids[k];
        }
        if (!system_id && !r->err[0])
            snprintf(r->err, sizeof r->err, "%s: point %s: no system \"%s\"", r->city_path, pcode,
                     sys);
        double h, hh, l, ll, rate;
        db_demo_point pt = {.code = pcode,
                            .kind = jstr(r, pcode, p, "kind"),
                            .name = jstr(r, pcode, p, "name"),
                            .unit = jstr(r, pcode, p, "unit"),
                            .param_class = jstr(r, pcode, p, "param_class"),
                            .range_min = jnum(r, pcode, p, "range_min"),
                            .range_max = jnum(r, pcode, p, "range_max"),
                            .deadband = jnum(r, pcode, p, "deadband"),
                            .limit_high = jopt(r, pcode, p, "limit_high", &h),
                            .limit_high_high = jopt(r, pcode, p, "limit_high_high", &hh),
                            .limit_low = jopt(r, pcode, p, "limit_low", &l),
                            .limit_low_low = jopt(r, pcode, p, "limit_low_low", &ll),
                            .rate_limit = jopt(r, pcode, p, "rate_limit", &rate),
                            .min_duration_s = jint(r, pcode, p, "min_duration_s"),
                            .expected_interval_s = jint(r, pcode, p, "expected_interval_s")};
        db_status st = checked(r, DB_OK);
        if (st == DB_OK)
            st = db_demo_point_create(c, enterprise_id, system_id, &pt);
        if (st != DB_OK)
            return st;
    }
    return checked(r, DB_OK);
}

/* One enterprise with its systems, points and gateway; *id is its id. */
static db_status load_enterprise(db_conn *c, seed_run *r, json_t *e, int64_t *id)
{
    const char *code = jstr(r, "enterprise", e, "code");
    json_t *kinds = jarr(r, code, e, "dust_kinds");
    const char *kind_v[16];
    size_t n_kinds = 0, i;
    json_t *k;
    json_array_foreach(kinds, i, k)
    {
        if (n_kinds < sizeof kind_v / sizeof kind_v[0] && json_is_string(k))
            kind_v[n_kinds++] = json_string_value(k);
    }
    db_demo_enterprise ent = {
        .code = code,
        .uscc = jstr(r, code, e, "uscc"),
        .name = jstr(r, code, e, "name"),
        .district_id = region_lookup(r, code, jstr(r, code, e, "district")),
        .street_id = region_lookup(r, code, jstr(r, code, e, "street")),
        .address = jstr(r, code, e, "address"),
        .longitude = jnum(r, code, e, "longitude"),
        .latitude = jnum(r, code, e, "latitude"),
        .industry_code = jstr(r, code, e, "industry_code"),
        .status = jstr(r, code, e, "status"),
        .dust_kinds = kind_v,
        .n_dust_kinds = n_kinds,
        .dust_workers = jint(r, code, e, "dust_workers"),
        .building_storeys = jstr(r, code, e, "building_storeys"),
    };
    db_status st = checked(r, DB_OK);
    if (st == DB_OK)
        st = db_demo_enterprise_create(c, &ent, id);
    json_t *systems = jarr(r, code, e, "systems"), *s;
    int64_t system_ids[MAX_SYSTEMS] = {0};
    if (json_array_size(systems) > MAX_SYSTEMS && !r->err[0])
        snprintf(r->err, sizeof r->err, "%s: %s: more than %d systems", r->city_path, code,
                 MAX_SYSTEMS);
    json_array_foreach(systems, i, s)
    {
        if ((st = checked(r, st)) != DB_OK)
            return st;
        db_demo_system sys = {
            .code = jstr(r, code, s, "code"),
            .name = jstr(r, code, s, "name"),
            .workshop = jstr(r, code, s, "workshop"),
            .collector_type = jstr(r, code, s, "collector_type"),
            .airflow_m3h = jint(r, code, s, "airflow_m3h"),
            .wet = jbool(r, code, s, "wet"),
            .central = jbool(r, code, s, "central"),
            .positive_pressure = jbool(r, code, s, "positive_pressure"),
            .indoor = jbool(r, code, s, "indoor"),
            .has_venting = jbool(r, code, s, "has_venting"),
            .has_isolation = jbool(r, code, s, "has_isolation"),
            .has_suppression = jbool(r, code, s, "has_suppression"),
            .has_inerting = jbool(r, code, s, "has_inerting"),
            .has_airlock = jbool(r, code, s, "has_airlock"),
            .has_spark_detection = jbool(r, code, s, "has_spark_detection"),
        };
        if ((st = checked(r, st)) == DB_OK)
            st = db_demo_system_create(c, *id, &sys, &system_ids[i]);
    }
    if ((st = checked(r, st)) != DB_OK)
        return st;
    if ((st = load_points(c, r, e, code, *id, system_ids, systems)) != DB_OK)
        return st;
    json_t *gw = json_object_get(e, "gateway");
    const char *gcode = jstr(r, code, gw, "code"), *gname = jstr(r, code, gw, "name");
    const char *dialect = jstr(r, code, gw, "dialect");
    if ((st = checked(r, st)) != DB_OK)
        return st;
    return db_demo_gateway_create(c, *id, gcode, gname, dialect);
}

/* An empty database: the whole city, credentials and the fleet. */
static db_status load_city(db_conn *c, seed_run *r, json_t *fleet_ents)
{
    db_status st = load_regions(c, r);
    size_t i;
    json_t *e;
    json_array_foreach(jarr(r, "city", r->city, "enterprises"), i, e)
    {
        if (st != DB_OK)
            return st;
        int64_t id = 0;
        if ((st = load_enterprise(c, r, e, &id)) != DB_OK)
            return st;
        srv_cred cred;
        if (issue(c, r, e, id, &cred, &st) == 0)
            json_array_append_new(fleet_ents, fleet_entry(r, e, &cred));
        srv_cred_wipe(&cred);
        st = checked(r, st);
    }
    return st == DB_OK ? audit(c, r, "demo.seed") : st;
}

/* The description's codes, for the does-the-database-match question.
 * Borrowed from the description; the arrays are malloc'd. */
typedef struct codes {
    const char **ents, **gateways, **points;
    size_t n_ents, n_gateways, n_points;
} codes;

static int collect_codes(seed_run *r, codes *out)
{
    json_t *ents = jarr(r, "city", r->city, "enterprises"), *e, *p;
    size_t n_points = 0, i, k;
    json_array_foreach(ents, i, e)
    {
        n_points += json_array_size(json_object_get(e, "points"));
    }
    memset(out, 0, sizeof *out);
    size_t n = json_array_size(ents);
    out->ents = calloc(n + 1, sizeof *out->ents);
    out->gateways = calloc(n + 1, sizeof *out->gateways);
    out->points = calloc(n_points + 1, sizeof *out->points);
    if (!out->ents || !out->gateways || !out->points)
        return -1;
    json_array_foreach(ents, i, e)
    {
        const char *code = jstr(r, "enterprise", e, "code");
        out->ents[out->n_ents++] = code;
        out->gateways[out->n_gateways++] = jstr(r, code, json_object_get(e, "gateway"), "code");
        json_array_foreach(json_object_get(e, "points"), k, p)
        {
            out->points[out->n_points++] = jstr(r, code, p, "code");
        }
    }
    return 0;
}

static void codes_free(codes *c)
{
    free(c->ents);
    free(c->gateways);
    free(c->points);
}

/* The demo city is there but the fleet file is not: revoke the demo
 * gateways' credentials and issue new ones, when the database holds what the
 * description describes. */
static db_status reissue(db_conn *c, seed_run *r, json_t *fleet_ents)
{
    codes cs;
    int matches = 0;
    db_status st = DB_HARD;
    if (collect_codes(r, &cs) == 0 && (st = checked(r, DB_OK)) == DB_OK)
        st = db_demo_matches(c, cs.ents, cs.n_ents, cs.gateways, cs.n_gateways, cs.points,
                             cs.n_points, &matches);
    codes_free(&cs);
    if (st != DB_OK)
        return st;
    if (!matches) {
        r->outcome = SEED_MISMATCH;
        return DB_OK;
    }
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(r->city, "enterprises"), i, e)
    {
        const char *code = jstr(r, "enterprise", e, "code");
        const char *label = jstr(r, code, json_object_get(e, "credential"), "label");
        db_admin_ref ent;
        long long revoked;
        if ((st = checked(r, DB_OK)) != DB_OK ||
            (st = db_admin_enterprise_by_code(c, code, &ent, NULL)) != DB_OK ||
            (st = db_demo_credentials_revoke(c, ent.id, label, &revoked)) != DB_OK)
            return st;
        r->revoked += revoked;
        srv_cred cred;
        if (issue(c, r, e, ent.id, &cred, &st) == 0)
            json_array_append_new(fleet_ents, fleet_entry(r, e, &cred));
        srv_cred_wipe(&cred);
        if ((st = checked(r, st)) != DB_OK)
            return st;
    }
    r->outcome = SEED_REISSUED;
    return audit(c, r, "demo.credentials_reissue");
}

/* Filings, hazards (some derived from the archive, for a person to confirm), a supervision
 * trail and a notice in the marker district, so the supervision pages have content. */
static db_status seed_supervision(db_conn *c, seed_run *r)
{
    int64_t district = 0, n = 0;
    db_status st = db_demo_supervision(c, r->marker, &district);
    if (st != DB_OK || !district)
        return st;
    db_scope s = {.rls = "system", .kind = "district"};
    snprintf(s.id, sizeof s.id, "%lld", (long long)district);
    st = db_hazards_derive(c, &s, 0, &n);
    /* 在线抽查: a campaign with checks done and findings (issue 14 item 3) */
    int64_t spot = 0;
    return st == DB_OK ? db_spot_demo_tx(c, district, &spot) : st;
}

/* The plant with an approved stop filing keeps producing at every hour (fleet "shift"), so
 * the demo shows the production-during-stop alarm by night too, not only on the day shift. */
static db_status mark_round_the_clock(db_conn *c, json_t *fleet_ents)
{
    size_t i;
    json_t *f;
    json_array_foreach(fleet_ents, i, f)
    {
        int filed = 0;
        db_status st = db_demo_stop_filed(c, json_string_value(json_object_get(f, "code")), &filed);
        if (st != DB_OK)
            return st;
        if (filed)
            json_object_set_new(f, "shift", json_string("round_the_clock"));
    }
    return DB_OK;
}

static db_status seed_tx(db_conn *c, void *arg)
{
    seed_run *r = arg;
    /* db_run_tx may run this again after a conflict: start afresh */
    fleet_discard_tmp(r);
    free(r->regions);
    r->regions = NULL;
    r->issued = r->revoked = 0;
    r->err[0] = '\0';

    db_demo_state state;
    db_status st = db_demo_lock_state(c, r->marker, &state);
    if (st != DB_OK)
        return st;
    if (state == DB_DEMO_OTHER) {
        r->outcome = SEED_OTHER;
        return DB_OK;
    }
    if (state == DB_DEMO_LOADED && r->fleet_exists) {
        r->outcome = SEED_KEPT;
        return DB_OK;
    }
    json_t *fleet = json_object();
    json_t *ents = json_array();
    json_object_set_new(fleet, "ingest_url", json_string(r->ingest_url));
    json_object_set_new(fleet, "enterprises", ents);
    if (state == DB_DEMO_LOADED) {
        st = reissue(c, r, ents);
    } else {
        r->outcome = SEED_LOADED;
        st = load_city(c, r, ents);
        if (st == DB_OK)
            st = seed_supervision(c, r);
    }
    if (st == DB_OK)
        st = mark_round_the_clock(c, ents);
    if (st == DB_OK && r->outcome != SEED_MISMATCH && fleet_write_tmp(r, fleet) != 0)
        st = DB_BAD;
    json_decref(fleet);
    return st;
}

/* ---- the command ------------------------------------------------------- */

static void print_summary(db_conn *c, seed_run *r)
{
    db_demo_counts n;
    json_t *districts = json_object_get(r->city, "districts");
    const char *mname = json_string_value(json_object_get(json_array_get(districts, 0), "name"));
    const char *cname =
        json_string_value(json_object_get(json_object_get(r->city, "city"), "name"));
    mname = mname ? mname : r->marker;
    cname = cname ? cname : "the demo city";
    if (r->outcome == SEED_OTHER) {
        printf("demo-seed: the database holds another city; not seeding the demo, no fleet file "
               "written\n");
        return;
    }
    if (db_demo_counts_read(c, r->marker, &n) != DB_OK)
        memset(&n, 0, sizeof n);
    if (r->outcome == SEED_LOADED) {
        printf("demo-seed: loaded %s: %lld districts, %lld streets/towns/parks, %lld enterprises "
               "(%lld in %s), %lld dust systems, %lld points, %lld gateways, credentials %lld "
               "api_key/%lld hebei_des/%lld mem_sm4; fleet: %s\n",
               cname, n.districts, n.streets, n.enterprises, n.in_marker_district, mname, n.systems,
               n.points, n.gateways, n.api_key, n.hebei_des, n.mem_sm4, r->fleet_path);
        return;
    }
    char note[PATH_MAX + 200];
    if (r->outcome == SEED_KEPT)
        snprintf(note, sizeof note, "nothing changed; fleet kept: %s", r->fleet_path);
    else if (r->outcome == SEED_REISSUED)
        snprintf(note, sizeof note,
                 "fleet regenerated: %s, with new credentials for the %lld demo gateways (%lld "
                 "old ones revoked)",
                 r->fleet_path, r->issued, r->revoked);
    else
        snprintf(note, sizeof note,
                 "nothing changed; fleet NOT written: the demo data in the database differs from "
                 "this description");
    printf("demo-seed: demo city already loaded (%lld enterprises, %lld in %s, %lld points); %s\n",
           n.enterprises, n.in_marker_district, mname, n.points, note);
}

static db_conn *demo_connect(void)
{
    const char *url =
        g_config.migrate_database_url[0] ? g_config.migrate_database_url : g_config.database_url;
    char err[1024];
    /* tenant tables force row-level security even for their owner */
    db_conn *c = db_connect_scoped(url, "system", NULL, err, sizeof err);
    if (!c) {
        fprintf(stderr, "dustwatch demo: %s\n", err);
        return NULL;
    }
    int ready = 0;
    db_diag diag;
    if (db_demo_schema_ready(c, &ready, &diag) != DB_OK) {
        fprintf(stderr, "dustwatch demo: could not inspect the database: %s\n",
                diag.message[0] ? diag.message : "the database is unreachable");
        db_close(c);
        return NULL;
    }
    if (!ready) {
        fprintf(stderr, "dustwatch demo: the database has no dustwatch tables (is the database "
                        "migrated? run `dustwatch migrate`)\n");
        db_close(c);
        return NULL;
    }
    db_admin_register();
    db_demo_register();
    db_hazards_register();
    db_spot_register();
    return c;
}

static int seed(seed_run *r)
{
    db_conn *c = demo_connect();
    if (!c)
        return EXIT_FAILED;
    db_status st = db_run_tx(c, NULL, seed_tx, r);
    int rc = EXIT_OK;
    if (st == DB_OK && r->tmp_path[0] && rename(r->tmp_path, r->fleet_path) != 0) {
        /* committed, but the secrets are lost: the next run re-issues them */
        fprintf(stderr, "dustwatch demo: could not put the fleet file in place at %s: %m\n",
                r->fleet_path);
        rc = EXIT_FAILED;
    } else if (st != DB_OK) {
        fprintf(stderr, "dustwatch demo: nothing loaded: %s\n",
                r->err[0] ? r->err : "database error (see the log)");
        rc = EXIT_FAILED;
    } else {
        r->tmp_path[0] = '\0';
        print_summary(c, r);
    }
    fleet_discard_tmp(r);
    free(r->regions);
    db_close(c);
    return rc;
}

static int seed_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"city", required_argument, NULL, 'C'},
        {"fleet", required_argument, NULL, 'f'},
        {"ingest-url", required_argument, NULL, 'u'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *city = NULL, *fleet = NULL, *url = NULL, *config = NULL;
    optind = 1;
    opterr = 0;
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'C':
            city = optarg;
            break;
        case 'f':
            fleet = optarg;
            break;
        case 'u':
            url = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case 'h':
            fputs(seed_usage, stdout);
            return EXIT_OK;
        case ':':
            fprintf(stderr, "dustwatch demo seed: option %s needs a value\n", argv[optind - 1]);
            return EXIT_USAGE;
        default:
            fprintf(stderr, "dustwatch demo seed: unknown option \"%s\"\n", argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (optind < argc || !city || !fleet) {
        fprintf(stderr, "dustwatch demo seed: needs --city and --fleet (see `dustwatch demo seed "
                        "--help`)\n");
        return EXIT_USAGE;
    }
    json_error_t jerr;
    json_t *desc = json_load_file(city, 0, &jerr);
    json_t *districts = json_object_get(desc, "districts");
    const char *marker = json_string_value(json_object_get(json_array_get(districts, 0), "code"));
    if (!desc || !marker) {
        fprintf(stderr, "dustwatch demo seed: %s: %s\n", city,
                desc ? "not a city description (no districts)" : jerr.text);
        json_decref(desc);
        return EXIT_USAGE;
    }
    char err[1024];
    if (srv_config_load(config, err, sizeof err) != 0) {
        fprintf(stderr, "dustwatch: %s\n", err);
        json_decref(desc);
        return EXIT_USAGE;
    }
    (void)srv_log_set_level_name(g_config.log_level);
    int rc = EXIT_FAILED;
    if (sodium_init() < 0) {
        fprintf(stderr, "dustwatch demo: libsodium failed to initialise\n");
    } else if (srv_secret_require(err, sizeof err) != 0) {
        /* the gateway keys are sealed and the seed is audited with it */
        fprintf(stderr, "dustwatch demo: %s\n", err);
    } else {
        char default_url[300];
        snprintf(default_url, sizeof default_url, "http://%s", g_config.ingest_listen);
        struct stat sb;
        seed_run r = {.city = desc,
                      .city_path = city,
                      .fleet_path = fleet,
                      .ingest_url = url ? url : default_url,
                      .marker = marker,
                      .fleet_exists = stat(fleet, &sb) == 0 && sb.st_size > 0};
        rc = seed(&r);
    }
    srv_config_free();
    json_decref(desc);
    return rc;
}

int cli_demo_main(int argc, char **argv)
{
    if (argc < 2) {
        demo_usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        demo_usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "seed") == 0)
        return seed_main(argc - 1, argv + 1);
    fprintf(stderr, "dustwatch demo: unknown command \"%s\"\n\n", argv[1]);
    demo_usage(stderr);
    return EXIT_USAGE;
}
