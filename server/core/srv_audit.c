#include "srv_audit.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- chain 1: HMAC over a length-prefixed canonical form ----------------- */

static void field(crypto_auth_hmacsha256_state *st, const char *s, size_t n)
{
    char len[24];
    int l = snprintf(len, sizeof len, "%zu:", n);
    crypto_auth_hmacsha256_update(st, (const unsigned char *)len, (unsigned long long)l);
    crypto_auth_hmacsha256_update(st, (const unsigned char *)s, n);
    crypto_auth_hmacsha256_update(st, (const unsigned char *)"\n", 1);
}

static void text_field(crypto_auth_hmacsha256_state *st, const char *s)
{
    s = s ? s : "";
    field(st, s, strlen(s));
}

int srv_audit_mac(const unsigned char key[32], const srv_audit_row *row,
                  unsigned char out[SRV_AUDIT_HASH_BYTES])
{
    static const char tag[] = "dustwatch-audit-v1\n";
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, 32);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)tag, sizeof tag - 1);
    char buf[2 * SRV_AUDIT_HASH_BYTES + 1] = "";
    if (row->has_prev)
        sodium_bin2hex(buf, sizeof buf, row->prev_hash, SRV_AUDIT_HASH_BYTES);
    text_field(&st, buf);
    snprintf(buf, sizeof buf, "%" PRId64, row->at_us);
    text_field(&st, buf);
    buf[0] = '\0';
    if (row->has_account)
        snprintf(buf, sizeof buf, "%" PRId64, row->account_id);
    text_field(&st, buf);
    text_field(&st, row->username);
    text_field(&st, row->source_ip);
    text_field(&st, row->action);
    text_field(&st, row->object);
    text_field(&st, row->result);
    text_field(&st, row->detail);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
    return 0;
}

/* ---- chain 0: the trigger of migration 0003 ----------------------------- */

/* PostgreSQL's timestamptz output with DateStyle ISO for a session at
 * offset_s: "2026-12-03 09:37:51.5+08" (fraction without trailing zeros,
 * none when zero; minutes and seconds of the offset only when not zero). */
static void pg_timestamptz_text(int64_t at_us, int offset_s, char *out, size_t outlen)
{
    int64_t local_us = at_us + (int64_t)offset_s * 1000000;
    int64_t secs = local_us / 1000000, frac = local_us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, outlen, "%Y-%m-%d %H:%M:%S", &tm);
    if (frac) {
        char f[8];
        snprintf(f, sizeof f, "%06" PRId64, frac);
        for (int i = 5; i > 0 && f[i] == '0'; i--)
            f[i] = '\0';
        n += (size_t)snprintf(out + n, outlen - n, ".%s", f);
    }
    int a = offset_s < 0 ? -offset_s : offset_s;
    n += (size_t)snprintf(out + n, outlen - n, "%c%02d", offset_s < 0 ? '-' : '+', a / 3600);
    if (a % 3600)
        n += (size_t)snprintf(out + n, outlen - n, ":%02d", a % 3600 / 60);
    if (a % 60)
        snprintf(out + n, outlen - n, ":%02d", a % 60);
}

int srv_audit_legacy_hash(const srv_audit_row *row, int offset_s,
                          unsigned char out[SRV_AUDIT_HASH_BYTES])
{
    char prev[2 * SRV_AUDIT_HASH_BYTES + 1] = "", at[64], acc[24] = "";
    if (row->has_prev)
        sodium_bin2hex(prev, sizeof prev, row->prev_hash, SRV_AUDIT_HASH_BYTES);
    pg_timestamptz_text(row->at_us, offset_s, at, sizeof at);
    if (row->has_account)
        snprintf(acc, sizeof acc, "%" PRId64, row->account_id);
    const char *parts[] = {prev,        at,          acc,         row->username, row->source_ip,
                           row->action, row->object, row->result, row->detail};
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (i)
            crypto_hash_sha256_update(&st, (const unsigned char *)"|", 1);
        const char *p = parts[i] ? parts[i] : "";
        crypto_hash_sha256_update(&st, (const unsigned char *)p, strlen(p));
    }
    crypto_hash_sha256_final(&st, out);
    return 0;
}

/* ---- the verifier ------------------------------------------------------- */

void srv_audit_verifier_init(srv_audit_verifier *v, const unsigned char key[32])
{
    memset(v, 0, sizeof *v);
    memcpy(v->key, key, 32);
}

void srv_audit_verifier_wipe(srv_audit_verifier *v)
{
    sodium_memzero(v, sizeof *v);
}

/* The offset a legacy row was written under: the one of the rows before it
 * first, then every offset from -12:00 to +14:00 in quarter hours. */
static int legacy_ok(srv_audit_verifier *v, const srv_audit_row *row)
{
    unsigned char h[SRV_AUDIT_HASH_BYTES];
    if (v->legacy_offset_known) {
        srv_audit_legacy_hash(row, v->legacy_offset_s, h);
        if (sodium_memcmp(h, row->hash, sizeof h) == 0)
            return 1;
    }
    for (int q = -48; q <= 56; q++) {
        srv_audit_legacy_hash(row, q * 900, h);
        if (sodium_memcmp(h, row->hash, sizeof h) == 0) {
            if (v->legacy_offset_known)
                v->legacy_offsets_mixed = 1;
            v->legacy_offset_s = q * 900;
            v->legacy_offset_known = 1;
            return 1;
        }
    }
    return 0;
}

int srv_audit_verifier_next(srv_audit_verifier *v, const srv_audit_row *row, char *why,
                            size_t whylen)
{
    if (v->started) {
        if (!row->has_prev || !v->have_prev ||
            sodium_memcmp(row->prev_hash, v->prev, SRV_AUDIT_HASH_BYTES) != 0) {
            snprintf(why, whylen,
                     "prev_hash is not the hash of row %" PRId64
                     " before it (a row was removed or inserted, or this link was changed)",
                     v->last_id);
            return -1;
        }
    } else {
        v->first_id = row->id;
    }
    if (row->chain == 1) {
        unsigned char h[SRV_AUDIT_HASH_BYTES];
        srv_audit_mac(v->key, row, h);
        if (sodium_memcmp(h, row->hash, sizeof h) != 0) {
            snprintf(why, whylen,
                     "hash does not match the row's content under the audit key (the row was "
                     "changed, or the master key is not the one that wrote it)");
            return -1;
        }
        v->keyed_seen = 1;
        v->keyed_rows++;
    } else if (row->chain == 0) {
        if (v->keyed_seen) {
            snprintf(why, whylen, "an unkeyed (legacy) row after the keyed chain began");
            return -1;
        }
        if (!legacy_ok(v, row)) {
            snprintf(why, whylen,
                     "legacy SHA-256 hash does not match the row's content at any UTC offset "
                     "(the row was changed)");
            return -1;
        }
        v->legacy_rows++;
    } else {
        snprintf(why, whylen, "unknown chain version %d", row->chain);
        return -1;
    }
    v->started = 1;
    v->have_prev = 1;
    memcpy(v->prev, row->hash, SRV_AUDIT_HASH_BYTES);
    v->last_id = row->id;
    v->rows++;
    return 0;
}
