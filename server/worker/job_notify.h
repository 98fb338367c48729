/* job_notify — the delivery channels of notifications (issue 16): how one outbox message
 * reaches its target.  job_webhook.c leases the rows and logs each attempt; a channel only
 * sends.
 *
 * Channels:
 *   webhook  the JSON payload POSTed to the subscription's URL, signed
 *            (X-Dustwatch-Signature: sha256=<hex HMAC-SHA256(secret, body)>);
 *   sms      the generic HTTP SMS gateway JSON adapter: POST sms_gateway_url
 *            {"to": phone, "text": one line built from the payload, "ref": dedup key +
 *            phone, "sender": sms_sender}, Authorization: Bearer sms_gateway_key when set.
 * Both carry X-Dustwatch-Delivery (the dedup key; delivery is at least once) and go through
 * libcurl: http or https only, no redirects, the certificate and host name always verified
 * (against notify_ca_file when set), webhook_timeout_ms for the whole exchange.  Another
 * SMS or app gateway is one more job_notify_channel. */
#ifndef DW_JOB_NOTIFY_H
#define DW_JOB_NOTIFY_H

typedef struct job_notify_msg {
    const char *target;     /* URL (webhook) or phone (sms) */
    const char *payload;    /* JSON */
    const char *dedup_key;  /* X-Dustwatch-Delivery */
    const char *secret_hex; /* HMAC key of the subscription */
} job_notify_msg;

typedef struct job_notify_result {
    int sent;        /* the receiver accepted it (2xx) */
    int http_status; /* 0 when no answer */
    char detail[200];
    long duration_ms;
} job_notify_result;

typedef struct job_notify_channel {
    const char *name;
    void (*send)(const job_notify_msg *m, job_notify_result *r);
} job_notify_channel;

/* Once, before threads (curl_global_init). */
void job_notify_init(void);

/* The channel of that name, NULL when unknown. */
const job_notify_channel *job_notify_channel_for(const char *name);

/* The SMS text of a payload (pure, for tests): "[dustwatch] 报警 <enterprise> <point> ...". */
void job_notify_sms_text(const char *payload, char *out, unsigned long len);

#endif
