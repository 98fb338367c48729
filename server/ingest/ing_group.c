/* ing_group.c - the group transaction's point locks and the points' latest
 * instants the conflict-free readings path is decided on (ing_group.h). */
#include "ing_group.h"

#include "alarm_rules.h"
#include "db_alarms.h"

#include <stdlib.h>

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Whether every row is newer than its point's latest instant. */
int ing_group_all_newer(const group_ctx *g, const db_ingest_reading *rows, size_t n)
{
    if (!g->pt_latest)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const int64_t *at =
            bsearch(&rows[i].point_id, g->pt_ids, g->n_pts, sizeof *g->pt_ids, cmp_i64);
        if (!at || rows[i].ts_us <= g->pt_latest[at - g->pt_ids])
            return 0;
    }
    return 1;
}

/* After a job's readings went in: its rows that readings now holds (all
 * but the conflicts) move their points' latest, as ing_latest does. */
void ing_group_move_latest(group_ctx *g, const db_ingest_reading *rows, size_t n)
{
    for (size_t i = 0; g->pt_latest && i < n; i++) {
        if (rows[i].conflict)
            continue;
        const int64_t *at =
            bsearch(&rows[i].point_id, g->pt_ids, g->n_pts, sizeof *g->pt_ids, cmp_i64);
        if (at && rows[i].ts_us > g->pt_latest[at - g->pt_ids])
            g->pt_latest[at - g->pt_ids] = rows[i].ts_us;
    }
}

/* The points the group writes readings or events for, sorted, each once
 * (*ids is the caller's); *readings: the group stores readings. */
static int group_points(const group_ctx *g, int64_t **ids, size_t *n, int *readings)
{
    size_t total = 0;
    *readings = 0;
    for (size_t j = 0; j < g->n; j++)
        if (!g->ws[j].finished && g->ws[j].batch->kind != ING_KIND_VIDEOS)
            total += g->ws[j].n_items;
    int64_t *v = malloc((total ? total : 1) * sizeof *v);
    if (!v)
        return -1;
    size_t k = 0;
    for (size_t j = 0; j < g->n; j++) {
        const wjob *w = &g->ws[j];
        if (w->finished || w->batch->kind == ING_KIND_VIDEOS)
            continue;
        for (size_t i = 0; i < w->n_items; i++)
            if (w->point_ids[i] && !w->server_code[i]) {
                v[k++] = w->point_ids[i];
                *readings |= w->batch->kind == ING_KIND_READINGS;
            }
    }
    qsort(v, k, sizeof *v, cmp_i64);
    size_t m = 0;
    for (size_t i = 0; i < k; i++)
        if (!m || v[i] != v[m - 1])
            v[m++] = v[i];
    *ids = v;
    *n = m;
    return 0;
}

void ing_group_free_points(group_ctx *g)
{
    free(g->pt_ids);
    free(g->pt_latest);
    g->pt_ids = g->pt_latest = NULL;
    g->n_pts = 0;
    alarm_group_end();
}

/* Writers never deadlock (server/README.md): every lock a group can wait for
 * is taken in one global order - the rollup mark lock, the points' rows in
 * id order, Idempotency-Keys and enterprise rows in (enterprise, key) order
 * (process_group sorts the jobs), gateways in id order last. */
db_status ing_group_lock_points(db_conn *c, group_ctx *g)
{
    int readings = 0;
    ing_group_free_points(g); /* a retried attempt reads them afresh */
    if (group_points(g, &g->pt_ids, &g->n_pts, &readings) != 0)
        return DB_HARD;
    int64_t *ids = g->pt_ids;
    size_t n = g->n_pts;
    db_status st = readings ? db_ingest_hold_rollup_mark(c) : DB_OK;
    /* rule-state rows of new points first (in id order; nobody waits for a
     * row not yet committed through a FOR UPDATE), then all of them.  A
     * point is new once, so the lock is tried first; only when a row was
     * missing does the group start again, creating the rows first (locks
     * are then taken in the same order as always, no new wait appears). */
    if (st == DB_OK && n > 0 && g->init_state)
        st = db_alarms_state_init(c, ids, n);
    /* the rows are locked by the statement that loads them for the rules: each
     * job's readings are evaluated from this copy (alarm_group_lock) */
    if (st == DB_OK)
        st = alarm_group_lock(c, ids, n);
    /* then, with the locks held (the statement runs after the one above: its
     * snapshot postdates them), what the points' last writers stored */
    if (st == DB_OK && readings && !g->no_fresh && n > 0) {
        g->pt_latest = malloc(n * sizeof *g->pt_latest);
        st = g->pt_latest ? db_ingest_points_latest(c, ids, n, g->pt_latest) : DB_HARD;
    }
    return st;
}

db_status ing_group_locked(group_ctx *g)
{
    size_t locked = 0;
    db_status st = alarm_group_ready(&locked);
    if (st == DB_OK && locked < g->n_pts && !g->init_state) {
        g->init_state = 1;
        return DB_SOFT; /* rolled back and run again by db_run_tx */
    }
    return st;
}
