#include "srv_totp.h"

#include "srv_secret.h"

#include "srv_config.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == 24, "nonce size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == 16, "tag size");

uint32_t srv_totp_hotp(const unsigned char *key, size_t keylen, uint64_t counter, int digits)
{
    unsigned char msg[8], mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    for (int i = 7; i >= 0; i--) {
        msg[i] = (unsigned char)(counter & 0xff);
        counter >>= 8;
    }
    if (!HMAC(EVP_sha1(), key, (int)keylen, msg, sizeof msg, mac, &maclen) || maclen < 20)
        return UINT32_MAX;
    int off = mac[maclen - 1] & 0x0f;
    uint32_t bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
                   ((uint32_t)mac[off + 2] << 8) | (uint32_t)mac[off + 3];
    uint32_t mod = 1;
    for (int i = 0; i < digits; i++)
        mod *= 10;
    sodium_memzero(mac, sizeof mac);
    return bin % mod;
}

uint32_t srv_totp_at(const unsigned char *key, size_t keylen, int64_t t, int digits)
{
    return srv_totp_hotp(key, keylen, (uint64_t)(t / SRV_TOTP_STEP_S), digits);
}

int64_t srv_totp_check(const unsigned char secret[SRV_TOTP_SECRET_BYTES], const char *code,
                       int64_t now)
{
    if (!code || strlen(code) != SRV_TOTP_DIGITS)
        return -1;
    uint32_t given = 0;
    for (const char *p = code; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return -1;
        given = given * 10 + (uint32_t)(*p - '0');
    }
    int64_t step = now / SRV_TOTP_STEP_S, found = -1;
    /* every candidate is computed: the time does not tell which matched */
    for (int64_t s = step - 1; s <= step + 1; s++) {
        uint32_t v = srv_totp_hotp(secret, SRV_TOTP_SECRET_BYTES, (uint64_t)s, SRV_TOTP_DIGITS);
        if (v == given && found < 0)
            found = s;
    }
    return found;
}

void srv_totp_base32(const unsigned char *in, size_t n, char *out, size_t outlen)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    size_t o = 0;
    unsigned buffer = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        buffer = (buffer << 8) | in[i];
        bits += 8;
        while (bits >= 5 && o + 1 < outlen) {
            out[o++] = alphabet[(buffer >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0 && o + 1 < outlen)
        out[o++] = alphabet[(buffer << (5 - bits)) & 31];
    if (outlen)
        out[o] = '\0';
}

int srv_totp_key_valid(const char *hex)
{
    if (!hex || !*hex)
        return 1;
    if (strlen(hex) != 64)
        return 0;
    for (const char *p = hex; *p; p++)
        if (!isxdigit((unsigned char)*p))
            return 0;
    return 1;
}

static unsigned char totp_key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
static int have_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void key_setup(void)
{
    const char *hex = g_config.totp_key;
    size_t len = 0;
    if (!hex || !*hex) {
        /* no key of its own: the master key's TOTP subkey, like every other secret */
        have_key = srv_secret_derive(SRV_SECRET_TOTP_SEAL, totp_key) == 0;
        return;
    }
    have_key = strlen(hex) == 64 &&
               sodium_hex2bin(totp_key, sizeof totp_key, hex, 64, NULL, &len, NULL) == 0 &&
               len == sizeof totp_key;
}

int srv_totp_available(void)
{
    pthread_once(&key_once, key_setup);
    return have_key;
}

static void account_ad(int64_t account_id, char ad[48])
{
    snprintf(ad, 48, "dustwatch totp account:%lld", (long long)account_id);
}

int srv_totp_seal(int64_t account_id, const unsigned char secret[SRV_TOTP_SECRET_BYTES],
                  unsigned char out[SRV_TOTP_SEALED_BYTES])
{
    if (!srv_totp_available())
        return -1;
    char ad[48];
    account_ad(account_id, ad);
    randombytes_buf(out, 24);
    unsigned long long clen;
    return crypto_aead_xchacha20poly1305_ietf_encrypt(
               out + 24, &clen, secret, SRV_TOTP_SECRET_BYTES, (const unsigned char *)ad,
               strlen(ad), NULL, out, totp_key) == 0
               ? 0
               : -1;
}

int srv_totp_open(int64_t account_id, const unsigned char *sealed, size_t n,
                  unsigned char secret[SRV_TOTP_SECRET_BYTES])
{
    if (!srv_totp_available() || n != SRV_TOTP_SEALED_BYTES)
        return -1;
    char ad[48];
    account_ad(account_id, ad);
    unsigned long long mlen;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(secret, &mlen, NULL, sealed + 24, n - 24,
                                                   (const unsigned char *)ad, strlen(ad), sealed,
                                                   totp_key) != 0 ||
        mlen != SRV_TOTP_SECRET_BYTES)
        return -1;
    return 0;
}
