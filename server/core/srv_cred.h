/* Ingest credentials: how a gateway proves which enterprise it speaks for.
 * Generated in one place for every issuer, `dustwatch admin
 * create-credential`, POST /api/v1/enterprises/{id}/ingest-credentials and
 * the demo seed, so they can never drift apart in strength or shape.  The
 * REST API keys of POST /api/v1/enterprises/{id}/api-keys are api_key
 * credentials too (same shape, their own table).
 *
 *   api_key    "dwk_" + 256 random bits (URL-safe base64); the database keeps
 *              its SHA-256 (a fast hash suffices for a 256-bit secret) and the
 *              first SRV_CRED_PREFIX_LEN characters to recognise it in lists
 *   hebei_des  an 8-character DES key of letters and digits; the server must
 *              decrypt with it, so it is stored sealed (below)
 *   mem_sm4    an appid (given or "dw" + 16 hex), an appsecret of 256 random
 *              bits (SHA-256 stored) and a random SM4 key and IV (stored
 *              sealed, key then IV)
 *
 * Sealed (migration 0033, column sealed_keys): the gateway keys are
 * encrypted at rest with XChaCha20-Poly1305 under SRV_SECRET_CRED_SEAL, a
 * subkey of the master key (srv_secret.h), which never enters the database:
 * a dump of the table alone yields no key.  Layout: version byte 1, a random
 * 24-byte nonce, the ciphertext with its 16-byte tag; the additional data
 * binds it to the credential kind.  Rows from before 0033 (plaintext
 * des_key / sm4_key / sm4_iv) are sealed by `dustwatch migrate` and at
 * `serve` start (db_credentials_seal_plaintext).
 *
 * Callers run sodium_init() first.  An srv_cred holds secrets: the caller
 * shows them once and then calls srv_cred_wipe(). */
#ifndef DW_SRV_CRED_H
#define DW_SRV_CRED_H

#include <stddef.h>

#define SRV_CRED_PREFIX_LEN 12
/* the two kinds of bearer key look different, so nobody pastes one where the
 * other belongs: ingest credentials (gateways, X-Api-Key on the ingest
 * listener) start "dwk_", REST API keys (POST /api/v1/enterprises/{id}/
 * api-keys, the 接口密钥 tab) "dwa_"; REST keys issued before the split
 * start "dwk_" too and stay valid on the REST API */
#define SRV_CRED_INGEST_KEY_PREFIX "dwk_"
#define SRV_CRED_REST_KEY_PREFIX   "dwa_"
#define SRV_CRED_LABEL_MAX         100
/* a sealed value: version, nonce, at most 32 bytes of keys, tag */
#define SRV_CRED_SEALED_MAX (1 + 24 + 32 + 16)
/* the stored columns of srv_cred_columns() */
#define SRV_CRED_COLUMNS 5

typedef enum {
    SRV_CRED_API_KEY,
    SRV_CRED_HEBEI_DES,
    SRV_CRED_MEM_SM4,
} srv_cred_kind;

typedef struct srv_cred {
    srv_cred_kind kind;
    /* secrets, shown once */
    char api_key[48];   /* "dwk_" + 43 characters */
    char des_key[9];    /* 8 characters */
    char appsecret[44]; /* 43 characters */
    char sm4_key_hex[33], sm4_iv_hex[33];
    /* identifiers: safe to list and log */
    char key_prefix[SRV_CRED_PREFIX_LEN + 1];
    char appid[65];
    /* what the database stores, as text-format bytea parameters ("\x<hex>") */
    char key_hash[3 + 64], appsecret_hash[3 + 64];
    char sealed_bytea[3 + 2 * SRV_CRED_SEALED_MAX];
} srv_cred;

/* "api_key" | "hebei_des" | "mem_sm4" -> kind; 0, or -1 when unknown. */
int srv_cred_kind_parse(const char *name, srv_cred_kind *out);
const char *srv_cred_kind_name(srv_cred_kind kind);

/* 1 when s may be a MEM appid: 1 to 64 of A-Z a-z 0-9 . _ - */
int srv_cred_appid_valid(const char *s);

/* Fills out with a fresh credential of kind.  appid (mem_sm4 only; NULL
 * elsewhere or for a generated one) must pass srv_cred_appid_valid.  0, -1
 * for an appid that does not, -2 when the keys could not be sealed (no
 * master key; logged). */
int srv_cred_generate(srv_cred_kind kind, const char *appid, srv_cred *out);
/* A REST API key: an api_key credential with the "dwa_" prefix (same
 * strength, prefix and digest fields). */
void srv_cred_generate_rest_key(srv_cred *c);

/* The stored columns in the order key_prefix, key_hash, appid,
 * appsecret_hash, sealed_keys: pointers into c, NULL for columns this kind
 * leaves empty.  Valid while c is. */
void srv_cred_columns(const srv_cred *c, const char *out[SRV_CRED_COLUMNS]);

/* Seals n (<= 32) bytes of kind's keys into out (outcap >=
 * SRV_CRED_SEALED_MAX); *outlen is the sealed length.  0, or -1 (no master
 * key). */
int srv_cred_seal(srv_cred_kind kind, const unsigned char *plain, size_t n, unsigned char *out,
                  size_t outcap, size_t *outlen);
/* Opens a sealed value of kind holding exactly n bytes into out.  0, or -1
 * when it does not open (another master key, another kind, changed bytes,
 * no master key). */
int srv_cred_unseal(srv_cred_kind kind, const unsigned char *sealed, size_t len, unsigned char *out,
                    size_t n);

/* An api_key credential's SHA-256 as 32 raw bytes (key_hash decoded), for
 * stores that take the digest rather than the bytea text: the REST API keys
 * of api/resources/accounts.c. */
void srv_cred_key_digest(const srv_cred *c, unsigned char out[32]);

void srv_cred_wipe(srv_cred *c);

#endif
