/* Unit tests for server/srv_password: the policy table-driven (each rule
 * accepting and refusing), the configured minimum, hashing round trips,
 * re-hash detection and the generator. */
#include "srv_config.h"
#include "srv_password.h"

#include <stdio.h>
#include <string.h>

#include "unit_check.h"

typedef struct {
    const char *pw;
    const char *user;
    int ok;
    const char *why_has; /* a word the refusal must mention */
} policy_case;

static const policy_case cases[] = {
    {"Tq8#vLm2pX", "alice", 1, NULL},
    {"tq8#vlm2px", "alice", 1, NULL},         /* lower + digit + symbol */
    {"TQ8VLM2PXR", "alice", 0, "3 of"},       /* upper + digit only */
    {"tqavlmbpxr", "alice", 0, "3 of"},       /* one class */
    {"Tq8#vLm2p", "alice", 0, "at least 10"}, /* 9 characters */
    {"", "alice", 0, "empty"},
    {"Tq8#vLm2pX\n", "alice", 0, "control"},
    {"Tq8#\tLm2pX", "alice", 0, "control"},
    {"Xx9!alice.wangQ", "alice.wang", 0, "user name"},
    {"Xx9!ALICE.WANGq", "alice.wang", 0, "user name"},
    {"Wang7#Rk2zQ", "alice.wang", 0, "wang"}, /* a 4+ part of the name */
    {"Tq8#vLm2pX", NULL, 1, NULL},
    {"P@ssw0rd123", "bob", 0, "common"},
    {"p@ssw0rd123", "bob", 0, "common"},
    {"Password2024!", "bob", 0, "password"},
    {"Adm1n@2024xq", "bob", 1, NULL}, /* "adminxq" is no bare common word */
    {"Admin@2024!!", "bob", 0, "admin"},
    {"1qaz@WSX3edc", "bob", 0, "common"},
    {"Qwerty123456!", "bob", 0, "qwerty"},
    {"Dustwatch#2025", "bob", 0, "dustwatch"},
    {"Aa1!Aa1!Aa1!", "bob", 0, "different"}, /* 4 distinct characters */
    {"\xe7\xb2\x89\xe5\xb0\x98\xe5\xae\x89\xe5\x85\xa8\xe7\x9b\x91\xe6\xb5\x8b"
     "kz12",
     "bob", 1, NULL}, /* 粉尘安全监测kz12: 10 characters */
    {"\xe7\xb2\x89\xe5\xb0\x98\xe5\xae\x89kz12", "bob", 0, "at least 10"}, /* 7 chars, 13 bytes */
    {"Tq8#vLm2pX\xff", "bob", 0, "UTF-8"},
};

static void test_policy_table(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const policy_case *c = &cases[i];
        char why[200] = "";
        int r = srv_password_check_policy(c->pw, c->user, why, sizeof why);
        if ((r == 0) != c->ok) {
            fprintf(stderr, "case %zu \"%s\": expected %s, got %d (%s)\n", i, c->pw,
                    c->ok ? "ok" : "refusal", r, why);
            failures++;
            continue;
        }
        if (!c->ok) {
            CHECK(why[0] != '\0');
            if (c->why_has && !strstr(why, c->why_has)) {
                fprintf(stderr, "case %zu \"%s\": reason \"%s\" lacks \"%s\"\n", i, c->pw, why,
                        c->why_has);
                failures++;
            }
        }
    }
}

static void test_policy_limits(void)
{
    char big[SRV_PASSWORD_MAX_BYTES + 2];
    for (size_t i = 0; i < sizeof big - 1; i++)
        big[i] = "aB3#"[i % 4] + (char)(i % 7);
    big[sizeof big - 1] = '\0';
    char why[200];
    CHECK(srv_password_check_policy(big, "bob", why, sizeof why) != 0 && strstr(why, "longer"));
    big[SRV_PASSWORD_MAX_BYTES] = '\0';
    CHECK(srv_password_check_policy(big, "bob", why, sizeof why) == 0);

    /* the configured minimum, and the floor below it */
    long saved = g_config.password_min_length;
    g_config.password_min_length = 14;
    CHECK(srv_password_check_policy("Tq8#vLm2pXw3z", "bob", why, sizeof why) != 0 &&
          strstr(why, "at least 14"));
    CHECK(srv_password_check_policy("Tq8#vLm2pXw3zK", "bob", why, sizeof why) == 0);
    g_config.password_min_length = 4;
    CHECK(srv_password_check_policy("Tq8#vLm", "bob", why, sizeof why) != 0 &&
          strstr(why, "at least 8"));
    CHECK(srv_password_check_policy("Tq8#vLm2", "bob", why, sizeof why) == 0);
    g_config.password_min_length = saved;

    /* NULL or zero-sized reason buffers are allowed */
    CHECK(srv_password_check_policy("short", "bob", NULL, 0) != 0);
}

static void test_hash_verify(void)
{
    char h[crypto_pwhash_STRBYTES];
    CHECK(srv_password_hash("Tq8#vLm2pX", h) == 0);
    CHECK(strncmp(h, "$argon2id$", 10) == 0);
    CHECK(srv_password_verify(h, "Tq8#vLm2pX") == 0);
    CHECK(srv_password_verify(h, "Tq8#vLm2px") != 0);
    CHECK(srv_password_verify(h, "") != 0);
    CHECK(srv_password_needs_rehash(h) == 0);

    /* salted: the same password hashes differently each time */
    char h2[crypto_pwhash_STRBYTES];
    CHECK(srv_password_hash("Tq8#vLm2pX", h2) == 0);
    CHECK(strcmp(h, h2) != 0);
    CHECK(srv_password_verify(h2, "Tq8#vLm2pX") == 0);

    /* weaker parameters (an older deployment) ask for a re-hash */
    char weak[crypto_pwhash_STRBYTES];
    CHECK(crypto_pwhash_str_alg(weak, "Tq8#vLm2pX", 10, crypto_pwhash_OPSLIMIT_MIN,
                                crypto_pwhash_MEMLIMIT_MIN, crypto_pwhash_ALG_ARGON2ID13) == 0);
    CHECK(srv_password_verify(weak, "Tq8#vLm2pX") == 0);
    CHECK(srv_password_needs_rehash(weak) == 1);

    /* the configured memory goes into the string; a hash of the other memory
     * still verifies and asks for a re-hash, both ways */
    CHECK(strstr(h, "$m=65536,t=2,p=1$") != NULL);
    long saved = g_config.password_hash_memory_kib;
    g_config.password_hash_memory_kib = 19456;
    char lean[crypto_pwhash_STRBYTES];
    CHECK(srv_password_hash("Tq8#vLm2pX", lean) == 0);
    CHECK(strstr(lean, "$m=19456,t=2,p=1$") != NULL);
    CHECK(srv_password_needs_rehash(lean) == 0);
    CHECK(srv_password_needs_rehash(h) == 1);
    g_config.password_hash_memory_kib = saved;
    CHECK(srv_password_verify(lean, "Tq8#vLm2pX") == 0);
    CHECK(srv_password_needs_rehash(lean) == 1);

    /* not argon2id, truncated or garbage: never verifies */
    char argon2i[crypto_pwhash_STRBYTES];
    CHECK(crypto_pwhash_str_alg(argon2i, "Tq8#vLm2pX", 10, crypto_pwhash_argon2i_OPSLIMIT_MIN,
                                crypto_pwhash_argon2i_MEMLIMIT_MIN,
                                crypto_pwhash_ALG_ARGON2I13) == 0);
    CHECK(srv_password_verify(argon2i, "Tq8#vLm2pX") != 0);
    CHECK(srv_password_needs_rehash(argon2i) == -1);
    char cut[crypto_pwhash_STRBYTES];
    memcpy(cut, h, sizeof cut);
    cut[strlen(cut) - 5] = '\0';
    CHECK(srv_password_verify(cut, "Tq8#vLm2pX") != 0);
    CHECK(srv_password_verify("plaintext", "plaintext") != 0);
    CHECK(srv_password_verify(NULL, "x") != 0);
    CHECK(srv_password_needs_rehash("") == -1);
}

static void test_generate(void)
{
    char a[65], b[65];
    CHECK(srv_password_generate(a, 20, "city.admin") == 0);
    CHECK(strlen(a) == 20);
    CHECK(srv_password_check_policy(a, "city.admin", NULL, 0) == 0);
    CHECK(srv_password_generate(b, 20, "city.admin") == 0);
    CHECK(strcmp(a, b) != 0);
    for (int i = 0; i < 200; i++) {
        CHECK(srv_password_generate(a, 12, "bob") == 0);
        CHECK(srv_password_check_policy(a, "bob", NULL, 0) == 0);
        CHECK(strpbrk(a, "lIO01'\"\\ `$!") == NULL);
    }
    CHECK(srv_password_generate(a, 11, "bob") != 0);
    CHECK(srv_password_generate(a, 65, "bob") != 0);
}

int main(void)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "libsodium failed to initialise\n");
        return 1;
    }
    char err[256];
    if (srv_config_load(NULL, err, sizeof err) != 0) {
        fprintf(stderr, "config: %s\n", err);
        return 1;
    }
    CHECK(g_config.password_min_length == 10);
    test_policy_table();
    test_policy_limits();
    test_hash_verify();
    test_generate();
    srv_config_free();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("password: all checks passed\n");
    return 0;
}
