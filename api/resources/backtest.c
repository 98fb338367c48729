/* Risk model administration and backtest (issue 16):
 *   GET  /api/v1/risk/model      the model in force (version, source, parameters) and the
 *                                versions stored in the database;
 *   POST /api/v1/risk/models     a city administrator stores a model version (validated by
 *                                the strict loader) and, with "activate", puts it in force:
 *                                the worker loads it at its next tick, no restart
 *                                (job_risk_watch_model);
 *   POST /api/v1/risk/backtest   grade counts under a candidate model over a period and the
 *                                enterprises that would change grade (job_backtest.h, the
 *                                same computation as `dustwatch risk backtest`).
 * The backtest reads every enterprise of the city, so it is the city's. */
#include "api_auth.h"
#include "api_handlers.h"
#include "api_params.h"
#include "db_riskmodel.h"
#include "job_backtest.h"
#include "srv_config.h"
#include "srv_riskmodel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKTEST_MAX_DAYS 400

/* The model in force as the API can tell it: the active database version, else the file. */
static json_t *in_force(json_t *stored)
{
    const json_t *act = json_object_get(stored, "active");
    if (json_is_object(act))
        return json_pack("{s:O, s:s, s:O, s:O}", "version", json_object_get(act, "version"),
                         "source", "database", "activated_at", json_object_get(act, "activated_at"),
                         "parameters", json_object_get(act, "model"));
    json_error_t je;
    json_t *file = json_load_file(g_config.risk_model, 0, &je);
    json_t *o = json_pack("{s:O?, s:s, s:s, s:o?}", "version",
                          file ? json_object_get(file, "version") : NULL, "source", "file", "file",
                          g_config.risk_model, "parameters", file);
    return o;
}

int api_risk_model_get(api_req *r)
{
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *stored = NULL;
    db_status st = c ? db_riskmodel_read(c, &s, &stored) : DB_HARD;
    if (st != DB_OK || !stored)
        return api_reply_read(r, st, stored, "model");
    json_t *out = json_pack("{s:o, s:O}", "in_force", in_force(stored), "versions",
                            json_object_get(stored, "versions"));
    json_decref(stored);
    return api_reply_read(r, out ? DB_OK : DB_HARD, out, "model");
}

/* The body's "model" parsed by the strict loader into m; its text in *text (malloc'd).
 * -1 after replying. */
static int body_model(api_req *r, const json_t *model, risk_model *m, char **text)
{
    if (!json_is_object(model))
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "model must be a risk model object "
                               "(schema/risk-model.schema.json)"),
               -1;
    *text = json_dumps(model, JSON_COMPACT | JSON_SORT_KEYS);
    if (!*text)
        return api_reply_error(r, API_E_INTERNAL, "out of memory"), -1;
    char err[512];
    if (srv_riskmodel_parse(*text, m, err, sizeof err) != 0) {
        free(*text);
        *text = NULL;
        return api_reply_error(r, API_E_UNPROCESSABLE, "model: %s", err), -1;
    }
    return 0;
}

typedef struct {
    const char *version, *text;
    int activate, clash;
    int64_t id;
} store_ctx;

static db_status store_tx(api_req *r, db_conn *c, void *arg)
{
    store_ctx *x = arg;
    db_status st = db_riskmodel_store(c, x->version, x->text, api_req_caller(r)->username,
                                      x->activate, &x->id, &x->clash);
    if (st != DB_OK || x->clash)
        return st;
    char obj[96], detail[160];
    snprintf(obj, sizeof obj, "risk_model:%s", x->version);
    snprintf(detail, sizeof detail, "{\"activate\":%s}", x->activate ? "true" : "false");
    return api_audit_tx(r, c, x->activate ? "risk_model_activate" : "risk_model_store", obj, "ok",
                        detail);
}

int api_risk_model_create(api_req *r)
{
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    const char *const allowed[] = {"model", "activate"};
    if (api_json_strict(r, body, allowed, 2) != 0)
        return 0;
    const json_t *act = json_object_get(body, "activate");
    if (act && !json_is_boolean(act))
        return api_reply_error(r, API_E_BAD_REQUEST, "activate must be true or false");
    risk_model m;
    char *text = NULL;
    if (body_model(r, json_object_get(body, "model"), &m, &text) != 0)
        return 0;
    store_ctx x = {.version = m.version, .text = text, .activate = json_is_true(act)};
    db_status st = api_tx(r, store_tx, &x);
    free(text);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (x.clash)
        return api_reply_error(r, API_E_CONFLICT,
                               "version %s is stored with other parameters; give the changed "
                               "model a new version",
                               m.version);
    return api_reply_json(r, x.activate ? 200 : 201,
                          json_pack("{s:I, s:s, s:b}", "id", (json_int_t)x.id, "version", m.version,
                                    "active", x.activate));
}

typedef struct {
    const risk_model *m;
    const char *from, *to;
    json_t *out;
    char err[512];
} bt_ctx;

static db_status backtest_tx(api_req *r, db_conn *c, void *arg)
{
    (void)r;
    bt_ctx *x = arg;
    return job_backtest_run(c, x->m, x->from, x->to, &x->out, x->err, sizeof x->err);
}

int api_risk_backtest(api_req *r)
{
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    const char *const allowed[] = {"model", "from", "to"};
    const char *from_s, *to_s;
    if (api_json_strict(r, body, allowed, 3) != 0 ||
        api_body_text(r, body, "from", 1, 40, &from_s) ||
        api_body_text(r, body, "to", 1, 40, &to_s))
        return 0;
    time_t from, to;
    if (api_parse_time(from_s, &from) != 0)
        return api_reply_error(r, API_E_BAD_REQUEST, "from: not an RFC 3339 time");
    if (api_parse_time(to_s, &to) != 0)
        return api_reply_error(r, API_E_BAD_REQUEST, "to: not an RFC 3339 time");
    if (to <= from || to - from > (time_t)BACKTEST_MAX_DAYS * 86400)
        return api_reply_error(r, API_E_BAD_REQUEST, "to must be after from, at most %d days later",
                               BACKTEST_MAX_DAYS);
    risk_model m;
    char *text = NULL;
    const json_t *model = json_object_get(body, "model");
    if (model) {
        if (body_model(r, model, &m, &text) != 0)
            return 0;
        free(text);
    } else {
        /* no candidate: the model in force (to see what it says about the period) */
        db_scope s;
        db_conn *c = api_read_db(r, &s);
        if (!c)
            return 0;
        json_t *stored = NULL;
        db_status st = db_riskmodel_read(c, &s, &stored);
        if (st != DB_OK || !stored)
            return api_reply_db(r, st != DB_OK ? st : DB_HARD);
        json_t *cur = in_force(stored);
        json_decref(stored);
        int rc = body_model(r, json_object_get(cur, "parameters"), &m, &text);
        json_decref(cur);
        if (rc != 0)
            return 0;
        free(text);
    }
    char f[32], t[32];
    api_format_time(from, f);
    api_format_time(to, t);
    bt_ctx x = {.m = &m, .from = f, .to = t};
    db_status st = api_tx(r, backtest_tx, &x);
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, x.out);
}

void api_backtest_init(void)
{
    db_riskmodel_register();
}
