/* Unit tests for server/core/srv_audit: the canonical form of a keyed row is
 * fixed for ever (known answers computed independently with Python's hmac,
 * hashlib), the legacy formula reproduces PostgreSQL's timestamptz text at
 * any offset, and the verifier names what breaks: a changed field, a broken
 * link, a legacy row after the keyed chain began, another key. */
#include "srv_audit.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "unit_check.h"

static int hash_is(const unsigned char h[32], const char *hex)
{
    char got[65];
    sodium_bin2hex(got, sizeof got, h, 32);
    return strcmp(got, hex) == 0;
}

static srv_audit_row sample(void)
{
    srv_audit_row r = {.id = 7,
                       .chain = 1,
                       .at_us = 1796291640123456LL,
                       .has_account = 1,
                       .account_id = 42,
                       .username = "city.admin",
                       .source_ip = "127.0.0.1",
                       .action = "ingest_credential_revoke",
                       .object = "ingest_credential:7",
                       .result = "ok",
                       .detail = "kind=hebei_des \xe4\xb8\xad\xe6\x96\x87|x",
                       .has_prev = 1};
    memset(r.prev_hash, 0xab, 32);
    return r;
}

static void test_known_answers(void)
{
    unsigned char key[32], h[32];
    for (int i = 0; i < 32; i++)
        key[i] = (unsigned char)i;
    srv_audit_row r = sample();
    srv_audit_mac(key, &r, h);
    CHECK(hash_is(h, "fe9abbc708ef89502f6c71c0e1b907b4d824be078709ccfd235abfff8e7fa39e"));
    /* legacy: at::text of a session at +05:45, no account */
    srv_audit_row l = {.chain = 0,
                       .at_us = 1796291640123456LL,
                       .username = "legacy",
                       .source_ip = "",
                       .action = "login",
                       .object = "x0",
                       .result = "ok",
                       .detail = "\xe6\x97\xa7",
                       .has_prev = 1};
    memset(l.prev_hash, 0xab, 32);
    srv_audit_legacy_hash(&l, 5 * 3600 + 45 * 60, h);
    CHECK(hash_is(h, "16676496988ec1ce5fc17e88c924f3341e37a2ed9431523138846d3d47dfb5ea"));
}

static void test_verifier(void)
{
    unsigned char key[32], other[32];
    randombytes_buf(key, sizeof key);
    randombytes_buf(other, sizeof other);
    srv_audit_row rows[3];
    for (int i = 0; i < 3; i++) {
        rows[i] = sample();
        rows[i].id = i + 1;
        rows[i].at_us += i;
        rows[i].has_prev = i > 0;
        if (i > 0)
            memcpy(rows[i].prev_hash, rows[i - 1].hash, 32);
        srv_audit_mac(key, &rows[i], rows[i].hash);
    }
    char why[300];
    srv_audit_verifier v;
    srv_audit_verifier_init(&v, key);
    for (int i = 0; i < 3; i++)
        CHECK(srv_audit_verifier_next(&v, &rows[i], why, sizeof why) == 0);
    CHECK(v.rows == 3 && v.keyed_rows == 3 && v.last_id == 3);
    /* a changed field */
    srv_audit_verifier_init(&v, key);
    srv_audit_row changed = rows[1];
    changed.result = "failed";
    CHECK(srv_audit_verifier_next(&v, &rows[0], why, sizeof why) == 0);
    CHECK(srv_audit_verifier_next(&v, &changed, why, sizeof why) != 0 && strstr(why, "hash"));
    /* a removed row: the next link does not fit */
    srv_audit_verifier_init(&v, key);
    CHECK(srv_audit_verifier_next(&v, &rows[0], why, sizeof why) == 0);
    CHECK(srv_audit_verifier_next(&v, &rows[2], why, sizeof why) != 0 && strstr(why, "row 1"));
    /* another key */
    srv_audit_verifier_init(&v, other);
    CHECK(srv_audit_verifier_next(&v, &rows[0], why, sizeof why) != 0);
    /* the time is part of the hash, to the microsecond */
    srv_audit_verifier_init(&v, key);
    srv_audit_row later = rows[0];
    later.at_us += 1;
    CHECK(srv_audit_verifier_next(&v, &later, why, sizeof why) != 0);
    /* a legacy row (any offset) before the keyed chain, none after it */
    srv_audit_row l = sample();
    l.chain = 0;
    l.has_prev = 0;
    srv_audit_legacy_hash(&l, -(3 * 3600 + 30 * 60), l.hash);
    srv_audit_row k = rows[0];
    k.has_prev = 1;
    memcpy(k.prev_hash, l.hash, 32);
    srv_audit_mac(key, &k, k.hash);
    srv_audit_verifier_init(&v, key);
    CHECK(srv_audit_verifier_next(&v, &l, why, sizeof why) == 0);
    CHECK(v.legacy_offset_s == -(3 * 3600 + 30 * 60));
    CHECK(srv_audit_verifier_next(&v, &k, why, sizeof why) == 0);
    srv_audit_row l2 = l;
    l2.has_prev = 1;
    memcpy(l2.prev_hash, k.hash, 32);
    srv_audit_legacy_hash(&l2, 0, l2.hash);
    CHECK(srv_audit_verifier_next(&v, &l2, why, sizeof why) != 0 && strstr(why, "legacy"));
    srv_audit_verifier_wipe(&v);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    test_known_answers();
    test_verifier();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("audit-chain: all checks passed\n");
    return 0;
}
