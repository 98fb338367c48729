/* test_warning.c — deadlines per grade and the escalation ladder, table-driven. */
#include "risk_warning.h"
#include "risk_test.h"

#define H  3600
#define T0 1767225600 /* 2026-01-01T00:00:00Z */

static void test_deadlines(const risk_model *m)
{
    static const struct {
        risk_grade g;
        int64_t sign, clear;
        risk_admin_level sup, esc;
        bool inform_city, duban, enforce;
    } t[] = {
        {RISK_GRADE_BLUE, 24 * H, 72 * H, RISK_ADMIN_ENTERPRISE, RISK_ADMIN_STREET, 0, 0, 0},
        {RISK_GRADE_YELLOW, 4 * H, 24 * H, RISK_ADMIN_STREET, RISK_ADMIN_DISTRICT, 0, 1, 0},
        {RISK_GRADE_ORANGE, 1 * H, 12 * H, RISK_ADMIN_DISTRICT, RISK_ADMIN_CITY, 0, 1, 0},
        {RISK_GRADE_RED, H / 2, 4 * H, RISK_ADMIN_DISTRICT, RISK_ADMIN_CITY, 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        risk_warning_deadlines d;
        CHECK(risk_warning_deadlines_for(m, t[i].g, T0, &d) == 0, "grade %zu", i);
        CHECK(d.sign_by == T0 + t[i].sign && d.clear_by == T0 + t[i].clear, "deadlines %zu", i);
        CHECK(d.supervisor == t[i].sup && d.escalate_to == t[i].esc, "levels %zu", i);
        CHECK(d.inform_city == t[i].inform_city && d.duban == t[i].duban &&
                  d.enforcement_referral == t[i].enforce,
              "flags %zu", i);
    }
    risk_warning_deadlines d;
    CHECK(risk_warning_deadlines_for(m, RISK_GRADE_COUNT, T0, &d) == -1, "bad grade");
}

typedef struct {
    const char *name;
    risk_warning_state w;
    int64_t now;
    bool overdue_sign, overdue_clear, escalate_now;
    uint32_t steps_due, step;
    int64_t step_due_at;
    risk_admin_level to;
    int64_t next_check_at;
} ladder_case;

static void test_ladder(const risk_model *m)
{
    const int64_t D = 24 * H;
    /* yellow: sign 4 h, clear 24 h, escalate to district; re-escalate every 24 h. */
    const ladder_case c[] = {
        {"fresh yellow",
         {RISK_GRADE_YELLOW, RISK_WARN_ISSUED, T0, 0, 0, 0},
         T0 + 60,
         false,
         false,
         false,
         0,
         0,
         0,
         RISK_ADMIN_DISTRICT,
         T0 + 4 * H + 1},
        {"sign deadline itself is in time",
         {RISK_GRADE_YELLOW, RISK_WARN_ISSUED, T0, 0, 0, 0},
         T0 + 4 * H,
         false,
         false,
         false,
         0,
         0,
         0,
         RISK_ADMIN_DISTRICT,
         T0 + 4 * H + 1},
        {"one second late to sign",
         {RISK_GRADE_YELLOW, RISK_WARN_ISSUED, T0, 0, 0, 0},
         T0 + 4 * H + 1,
         true,
         false,
         true,
         1,
         1,
         T0 + 4 * H,
         RISK_ADMIN_DISTRICT,
         T0 + D + 1},
        {"sign step already applied",
         {RISK_GRADE_YELLOW, RISK_WARN_ISSUED, T0, 0, 0, 1},
         T0 + 5 * H,
         true,
         false,
         false,
         1,
         0,
         0,
         RISK_ADMIN_DISTRICT,
         T0 + D + 1},
        {"signed in time, clear missed",
         {RISK_GRADE_YELLOW, RISK_WARN_SIGNED, T0, T0 + H, 0, 0},
         T0 + D + 1,
         false,
         true,
         true,
         1,
         1,
         T0 + D,
         RISK_ADMIN_DISTRICT,
         T0 + 2 * D + 1},
        {"signed late counts the sign step",
         {RISK_GRADE_YELLOW, RISK_WARN_SIGNED, T0, T0 + 5 * H, 0, 1},
         T0 + D + 1,
         false,
         true,
         true,
         2,
         2,
         T0 + D,
         RISK_ADMIN_CITY,
         T0 + 2 * D + 1},
        {"re-escalation after a further period",
         {RISK_GRADE_YELLOW, RISK_WARN_FEEDBACK, T0, T0 + H, 0, 1},
         T0 + 2 * D + 1,
         false,
         true,
         true,
         2,
         2,
         T0 + 2 * D,
         RISK_ADMIN_CITY,
         T0 + 3 * D + 1},
        {"catching up several steps, one at a time",
         {RISK_GRADE_YELLOW, RISK_WARN_ISSUED, T0, 0, 0, 0},
         T0 + 4 * D,
         true,
         true,
         true,
         4,
         1,
         T0 + 4 * H,
         RISK_ADMIN_DISTRICT,
         T0 + 4 * D + 1},
        {"clear requested in time stops the clock",
         {RISK_GRADE_YELLOW, RISK_WARN_CLEAR_REQUESTED, T0, T0 + H, T0 + D, 0},
         T0 + 3 * D,
         false,
         false,
         false,
         0,
         0,
         0,
         RISK_ADMIN_DISTRICT,
         INT64_MAX},
        {"clear requested late keeps past steps only",
         {RISK_GRADE_YELLOW, RISK_WARN_CLEAR_REQUESTED, T0, T0 + H, T0 + D + 10, 0},
         T0 + 5 * D,
         false,
         false,
         true,
         1,
         1,
         T0 + D,
         RISK_ADMIN_DISTRICT,
         INT64_MAX},
        {"sent back: clock runs from the original deadline",
         {RISK_GRADE_YELLOW, RISK_WARN_SENT_BACK, T0, T0 + H, T0 + 2 * H, 0},
         T0 + D + 5,
         false,
         true,
         true,
         1,
         1,
         T0 + D,
         RISK_ADMIN_DISTRICT,
         T0 + 2 * D + 1},
        {"cleared: nothing due",
         {RISK_GRADE_YELLOW, RISK_WARN_CLEARED, T0, 0, 0, 0},
         T0 + 9 * D,
         false,
         false,
         false,
         0,
         0,
         0,
         RISK_ADMIN_DISTRICT,
         INT64_MAX},
        {"blue escalates to street first",
         {RISK_GRADE_BLUE, RISK_WARN_ISSUED, T0, 0, 0, 0},
         T0 + D + 1,
         true,
         false,
         true,
         1,
         1,
         T0 + D,
         RISK_ADMIN_STREET,
         T0 + 3 * D + 1},
        {"blue second step goes to district",
         {RISK_GRADE_BLUE, RISK_WARN_ISSUED, T0, 0, 0, 1},
         T0 + 3 * D + 1,
         true,
         true,
         true,
         2,
         2,
         T0 + 3 * D,
         RISK_ADMIN_DISTRICT,
         T0 + 4 * D + 1},
        {"red 30 min",
         {RISK_GRADE_RED, RISK_WARN_ISSUED, T0, 0, 0, 0},
         T0 + H / 2 + 1,
         true,
         false,
         true,
         1,
         1,
         T0 + H / 2,
         RISK_ADMIN_CITY,
         T0 + 4 * H + 1},
        {"red steps stay at city",
         {RISK_GRADE_RED, RISK_WARN_ISSUED, T0, 0, 0, 2},
         T0 + 4 * H + D + 1,
         true,
         true,
         true,
         3,
         3,
         T0 + 4 * H + D,
         RISK_ADMIN_CITY,
         T0 + 4 * H + 2 * D + 1},
        {"orange clear deadline exact",
         {RISK_GRADE_ORANGE, RISK_WARN_SIGNED, T0, T0 + 60, 0, 0},
         T0 + 12 * H,
         false,
         false,
         false,
         0,
         0,
         0,
         RISK_ADMIN_CITY,
         T0 + 12 * H + 1},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        risk_warning_decision d;
        CHECK(risk_warning_check(m, &c[i].w, c[i].now, &d) == 0, "%s: rc", c[i].name);
        CHECK(d.overdue_sign == c[i].overdue_sign, "%s: overdue_sign %d", c[i].name,
              d.overdue_sign);
        CHECK(d.overdue_clear == c[i].overdue_clear, "%s: overdue_clear %d", c[i].name,
              d.overdue_clear);
        CHECK(d.escalate_now == c[i].escalate_now, "%s: escalate_now %d", c[i].name,
              d.escalate_now);
        CHECK(d.steps_due == c[i].steps_due, "%s: steps_due %u", c[i].name, d.steps_due);
        if (c[i].escalate_now) {
            CHECK(d.step == c[i].step, "%s: step %u", c[i].name, d.step);
            CHECK(d.step_due_at == c[i].step_due_at, "%s: step_due_at %+lld", c[i].name,
                  (long long)(d.step_due_at - T0));
            CHECK(d.escalate_to == c[i].to, "%s: escalate_to %s", c[i].name,
                  risk_admin_level_name(d.escalate_to));
        }
        CHECK(d.next_check_at == c[i].next_check_at, "%s: next_check_at %+lld", c[i].name,
              (long long)(d.next_check_at - T0));
    }
}

static void test_invalid_and_issue(const risk_model *m)
{
    risk_warning_decision d;
    risk_warning_state w = {RISK_GRADE_RED, RISK_WARN_CLEAR_REQUESTED, T0, T0, 0, 0};
    CHECK(risk_warning_check(m, &w, T0, &d) == -1, "clear requested without time");
    w.status = RISK_WARN_STATUS_COUNT;
    CHECK(risk_warning_check(m, &w, T0, &d) == -1, "unknown status");
    w.status = RISK_WARN_ISSUED;
    w.grade = (risk_grade)9;
    CHECK(risk_warning_check(m, &w, T0, &d) == -1, "unknown grade");

    static const struct {
        risk_grade prev;
        bool prev_o;
        risk_grade cur;
        bool cur_o;
        bool want;
    } t[] = {
        {RISK_GRADE_BLUE, 0, RISK_GRADE_BLUE, 0, false},
        {RISK_GRADE_BLUE, 0, RISK_GRADE_YELLOW, 0, true},
        {RISK_GRADE_YELLOW, 0, RISK_GRADE_YELLOW, 0, false},
        {RISK_GRADE_YELLOW, 0, RISK_GRADE_RED, 0, true},
        {RISK_GRADE_RED, 0, RISK_GRADE_ORANGE, 0, false},
        {RISK_GRADE_RED, 0, RISK_GRADE_RED, 1, true},
        {RISK_GRADE_RED, 1, RISK_GRADE_RED, 1, false},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        CHECK(risk_warning_should_issue(t[i].prev, t[i].prev_o, t[i].cur, t[i].cur_o) == t[i].want,
              "should_issue %zu", i);
    /* first score: blue/yellow are the baseline, orange/red warn as a rise from yellow */
    static const bool first_warns[RISK_GRADE_COUNT] = {false, false, true, true};
    for (int g = 0; g < RISK_GRADE_COUNT; g++) {
        risk_grade base = risk_warning_first_baseline((risk_grade)g);
        CHECK(base <= (risk_grade)g, "first baseline %d not above the grade", g);
        CHECK(risk_warning_should_issue(base, false, (risk_grade)g, false) == first_warns[g],
              "first score of grade %d", g);
    }
    for (int s = 0; s < RISK_WARN_STATUS_COUNT; s++)
        CHECK(risk_warning_status_from_name(risk_warning_status_name((risk_warning_status)s)) == s,
              "status name %d", s);
}

/* A rise above the open warning's grade upgrades it with the new grade's deadlines from the
 * rise; levels and city information are never lowered; a fall or the same grade: nothing. */
static void test_upgrade(const risk_model *m)
{
    risk_warning_upgrade_plan p;
    const int64_t at = T0 + 5 * H;
    risk_warning_open orange = {RISK_GRADE_ORANGE, RISK_ADMIN_DISTRICT, RISK_ADMIN_DISTRICT, false};
    CHECK(risk_warning_upgrade(m, &orange, RISK_GRADE_RED, at, &p) == 1, "orange -> red");
    CHECK(p.sign_by == at + H / 2 && p.clear_by == at + 4 * H, "red deadlines from the rise");
    CHECK(p.supervisor == RISK_ADMIN_DISTRICT && p.current_level == RISK_ADMIN_DISTRICT &&
              p.inform_city,
          "red: district, city informed");
    /* escalated to the city already: stays there */
    risk_warning_open yellow_up = {RISK_GRADE_YELLOW, RISK_ADMIN_STREET, RISK_ADMIN_CITY, false};
    CHECK(risk_warning_upgrade(m, &yellow_up, RISK_GRADE_ORANGE, at, &p) == 1, "yellow -> orange");
    CHECK(p.sign_by == at + H && p.clear_by == at + 12 * H, "orange deadlines");
    CHECK(p.supervisor == RISK_ADMIN_DISTRICT && p.current_level == RISK_ADMIN_CITY &&
              !p.inform_city,
          "levels never lowered");
    risk_warning_open red = {RISK_GRADE_RED, RISK_ADMIN_DISTRICT, RISK_ADMIN_DISTRICT, true};
    CHECK(risk_warning_upgrade(m, &red, RISK_GRADE_ORANGE, at, &p) == 0, "a fall changes nothing");
    CHECK(risk_warning_upgrade(m, &red, RISK_GRADE_RED, at, &p) == 0, "same grade: nothing");
    CHECK(risk_warning_upgrade(m, &red, RISK_GRADE_COUNT, at, &p) == -1, "bad grade");
    risk_warning_open bad = {RISK_GRADE_BLUE, RISK_ADMIN_COUNT, RISK_ADMIN_STREET, false};
    CHECK(risk_warning_upgrade(m, &bad, RISK_GRADE_RED, at, &p) == -1, "bad level");
}

int main(void)
{
    risk_model m;
    risk_model_default(&m);
    test_deadlines(&m);
    test_ladder(&m);
    test_invalid_and_issue(&m);
    test_upgrade(&m);
    return rt_report("risk-warning");
}
