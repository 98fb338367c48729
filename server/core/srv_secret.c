#include "srv_secret.h"

#include "srv_config.h"
#include "srv_log.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* crypto_kdf_CONTEXTBYTES (8) characters; fixed for ever (see the header) */
static const char KDF_CONTEXT[crypto_kdf_CONTEXTBYTES + 1] = "dustwtch";

static struct {
    pthread_mutex_t mu;
    unsigned char *key; /* sodium_malloc'd, read-only once set; NULL: none */
    int complained;
} K = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void install(const unsigned char key[SRV_SECRET_KEY_BYTES])
{
    unsigned char *k = sodium_malloc(SRV_SECRET_KEY_BYTES);
    if (!k)
        return;
    memcpy(k, key, SRV_SECRET_KEY_BYTES);
    sodium_mprotect_readonly(k);
    pthread_mutex_lock(&K.mu);
    unsigned char *old = K.key;
    K.key = k;
    pthread_mutex_unlock(&K.mu);
    if (old)
        sodium_free(old);
}

int srv_secret_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read master_key_file %s: %s", path, strerror(errno));
        return -1;
    }
    char text[160];
    size_t n = fread(text, 1, sizeof text - 1, f);
    int more = fgetc(f) != EOF;
    fclose(f);
    text[n] = '\0';
    unsigned char key[SRV_SECRET_KEY_BYTES];
    size_t len = 0;
    const char *end = NULL;
    int rc = -1;
    if (!more && sodium_hex2bin(key, sizeof key, text, n, " \t\r\n", &len, &end) == 0 &&
        len == sizeof key) {
        for (; *end; end++)
            if (!strchr(" \t\r\n", *end))
                break;
        rc = *end ? -1 : 0;
    }
    sodium_memzero(text, sizeof text);
    if (rc != 0) {
        sodium_memzero(key, sizeof key);
        snprintf(err, errlen,
                 "master_key_file %s must hold exactly 64 hex digits (a 256-bit key); make one "
                 "with: head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > FILE",
                 path);
        return -1;
    }
    install(key);
    sodium_memzero(key, sizeof key);
    return 0;
}

int srv_secret_loaded(void)
{
    pthread_mutex_lock(&K.mu);
    int loaded = K.key != NULL;
    pthread_mutex_unlock(&K.mu);
    return loaded;
}

int srv_secret_require(char *err, size_t errlen)
{
    if (srv_secret_loaded())
        return 0;
    const char *path = g_config.master_key_file;
    if (!path || !*path) {
        snprintf(err, errlen,
                 "master_key_file is not set (DUSTWATCH_MASTER_KEY_FILE): the audit chain and the "
                 "stored gateway keys need the master key");
        return -1;
    }
    return srv_secret_load(path, err, errlen);
}

int srv_secret_derive(srv_secret_purpose purpose, unsigned char out[SRV_SECRET_KEY_BYTES])
{
    char err[512];
    if (!srv_secret_loaded() && srv_secret_require(err, sizeof err) != 0) {
        sodium_memzero(out, SRV_SECRET_KEY_BYTES);
        pthread_mutex_lock(&K.mu);
        int first = !K.complained;
        K.complained = 1;
        pthread_mutex_unlock(&K.mu);
        if (first)
            LOG_CRIT("no master key", "detail=%s", srv_log_q((char[600]){0}, 600, err));
        return -1;
    }
    pthread_mutex_lock(&K.mu);
    int rc = crypto_kdf_derive_from_key(out, SRV_SECRET_KEY_BYTES, (uint64_t)purpose, KDF_CONTEXT,
                                        K.key);
    pthread_mutex_unlock(&K.mu);
    return rc == 0 ? 0 : -1;
}

void srv_secret_set(const unsigned char key[SRV_SECRET_KEY_BYTES])
{
    install(key);
}
