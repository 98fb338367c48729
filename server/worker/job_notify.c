/* job_notify.c — notification channels over libcurl (see job_notify.h). */
#include "job_notify.h"

#include "srv_config.h"
#include "srv_log.h"

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void job_notify_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

static long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* POSTs body with headers; fills r.  TLS: verified always, CA file when configured. */
static void post(const char *url, struct curl_slist *headers, const char *body,
                 job_notify_result *r)
{
    long t0 = mono_ms();
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(r->detail, sizeof r->detail, "out of memory");
        return;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)g_config.webhook_timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)g_config.webhook_timeout_ms);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (g_config.notify_ca_file && g_config.notify_ca_file[0])
        curl_easy_setopt(h, CURLOPT_CAINFO, g_config.notify_ca_file);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(h, CURLOPT_USERAGENT, "dustwatch");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    r->duration_ms = mono_ms() - t0;
    r->http_status = (int)status;
    if (rc != CURLE_OK) {
        /* cut to the field: libcurl's error buffer alone may fill it */
        int n = snprintf(r->detail, sizeof r->detail, "%.60s: %.*s", curl_easy_strerror(rc),
                         (int)(sizeof r->detail - 64), errbuf[0] ? errbuf : "-");
        (void)n;
        return;
    }
    r->sent = status >= 200 && status < 300;
    snprintf(r->detail, sizeof r->detail, "HTTP %ld", status);
}

static struct curl_slist *add(struct curl_slist *l, const char *name, const char *value)
{
    char line[512];
    snprintf(line, sizeof line, "%s: %s", name, value);
    struct curl_slist *n = curl_slist_append(l, line);
    return n ? n : l;
}

static void send_webhook(const job_notify_msg *m, job_notify_result *r)
{
    unsigned char key[64], mac[crypto_auth_hmacsha256_BYTES];
    size_t klen = 0;
    if (sodium_hex2bin(key, sizeof key, m->secret_hex, strlen(m->secret_hex), NULL, &klen, NULL) !=
        0)
        klen = 0;
    crypto_auth_hmacsha256_state hs;
    crypto_auth_hmacsha256_init(&hs, key, klen);
    crypto_auth_hmacsha256_update(&hs, (const unsigned char *)m->payload, strlen(m->payload));
    crypto_auth_hmacsha256_final(&hs, mac);
    sodium_memzero(key, sizeof key);
    char sig[7 + 2 * crypto_auth_hmacsha256_BYTES + 1] = "sha256=";
    sodium_bin2hex(sig + 7, sizeof sig - 7, mac, sizeof mac);
    struct curl_slist *hd = add(NULL, "Content-Type", "application/json");
    hd = add(hd, "X-Dustwatch-Signature", sig);
    hd = add(hd, "X-Dustwatch-Delivery", m->dedup_key);
    post(m->target, hd, m->payload, r);
    curl_slist_free_all(hd);
}

static const char *str(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

void job_notify_sms_text(const char *payload, char *out, unsigned long len)
{
    json_t *p = json_loads(payload, 0, NULL);
    const char *type = str(p, "type"), *ev = str(p, "event");
    const char *ent =
        str(p, "enterprise_name")[0] ? str(p, "enterprise_name") : str(p, "enterprise_code");
    if (strcmp(type, "alarm") == 0 && strcmp(ev, "raise") == 0) {
        double v = json_number_value(json_object_get(p, "value"));
        snprintf(out, len, "[dustwatch] 报警 %s %s %s 级别%s 值%.2f", ent, str(p, "point_name"),
                 str(p, "kind"), str(p, "level"), v);
    } else if (strcmp(type, "alarm") == 0) {
        snprintf(out, len, "[dustwatch] 报警 %s %s (alarm %lld)", ent, ev,
                 (long long)json_integer_value(json_object_get(p, "alarm_id")));
    } else if (strcmp(type, "warning") == 0) {
        snprintf(out, len, "[dustwatch] 预警 %s %s %s (warning %lld)", ent, ev, str(p, "grade"),
                 (long long)json_integer_value(json_object_get(p, "warning_id")));
    } else if (strcmp(type, "filing") == 0) {
        snprintf(out, len, "[dustwatch] 报备 %s %s %s (filing %lld)", ent, str(p, "filing_type"),
                 ev, (long long)json_integer_value(json_object_get(p, "filing_id")));
    } else if (strcmp(type, "cleaning") == 0) {
        snprintf(out, len, "[dustwatch] 清理到期 %s %s 本周期未打卡", ent, str(p, "area_name"));
    } else {
        snprintf(out, len, "[dustwatch] %s %s %s", type, ev, ent);
    }
    json_decref(p);
}

static void send_sms(const job_notify_msg *m, job_notify_result *r)
{
    if (!g_config.sms_gateway_url || !g_config.sms_gateway_url[0]) {
        snprintf(r->detail, sizeof r->detail, "no SMS gateway configured (sms_gateway_url)");
        return;
    }
    if (strncmp(m->target, "duty:", 5) == 0) {
        snprintf(r->detail, sizeof r->detail, "nobody with a phone on the duty roster");
        return;
    }
    if (strncmp(m->target, "watch:", 6) == 0) {
        snprintf(r->detail, sizeof r->detail, "nobody with a phone on watch in the district");
        return;
    }
    char text[400], ref[300];
    job_notify_sms_text(m->payload, text, sizeof text);
    snprintf(ref, sizeof ref, "%s:%s", m->dedup_key, m->target);
    json_t *b = json_pack("{s:s, s:s, s:s, s:s}", "to", m->target, "text", text, "ref", ref,
                          "sender", g_config.sms_sender ? g_config.sms_sender : "dustwatch");
    char *body = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    if (!body) {
        snprintf(r->detail, sizeof r->detail, "out of memory");
        return;
    }
    struct curl_slist *hd = add(NULL, "Content-Type", "application/json");
    hd = add(hd, "X-Dustwatch-Delivery", ref);
    if (g_config.sms_gateway_key && g_config.sms_gateway_key[0]) {
        char auth[400];
        snprintf(auth, sizeof auth, "Bearer %s", g_config.sms_gateway_key);
        hd = add(hd, "Authorization", auth);
    }
    post(g_config.sms_gateway_url, hd, body, r);
    curl_slist_free_all(hd);
    free(body);
}

/* The dashboard inbox of the person on watch (migration 0118): the row is the message, so
 * delivering it is putting it there; read when the person opens it (dw_inbox_read). */
static void send_inapp(const job_notify_msg *m, job_notify_result *r)
{
    if (strncmp(m->target, "account:", 8) != 0) {
        snprintf(r->detail, sizeof r->detail, "nobody on watch in the district");
        return;
    }
    r->sent = 1;
    snprintf(r->detail, sizeof r->detail, "in the inbox of %.40s", m->target);
}

static const job_notify_channel channels[] = {
    {"webhook", send_webhook},
    {"sms", send_sms},
    {"inapp", send_inapp},
};

const job_notify_channel *job_notify_channel_for(const char *name)
{
    for (size_t i = 0; i < sizeof channels / sizeof channels[0]; i++)
        if (strcmp(channels[i].name, name) == 0)
            return &channels[i];
    return NULL;
}
