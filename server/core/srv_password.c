#include "srv_password.h"

#include "srv_config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* A configured minimum below this would make the policy meaningless. */
#define MIN_LENGTH_FLOOR 8

/* Passwords that meet the class rules and still top every leaked list
 * (international ones and the favourites of Chinese admin panels).  Compared
 * case-insensitively. */
static const char *const common_passwords[] = {
    "1qaz!qaz2wsx@wsx", "1qaz@wsx3edc", "1qaz2wsx#edc", "!qaz2wsx#edc", "1q2w3e4r5t6y",
    "1q2w3e4r!q",       "q1w2e3r4t5y6", "1q2w3e4r5t!",  "abc123456789", "abc@123456",
    "abcd@123456",      "aa123456789",  "a123456789!",  "zxcvbnm123!",  "qwe123!@#",
    "qwe@123456",       "qweasdzxc123", "asd123456!",   "aa@123456789", "admin@123456",
    "admin123456!",     "root@123456",  "huawei@123",   "huawei12#$",   "sysadmin@123",
    "p@ssw0rd123",      "p@ssword123",  "passw0rd!",    "password123!", "password@123",
    "welcome123!",      "welcome@123",  "iloveyou123!", "woaini1314!",  "woaini@1314",
    "test@123456",      "changeme123!", "letmein123!",  "abc123!@#",    "1234qwer!@#$",
};

/* The letters of a password (after undoing leetspeak between letters) that
 * make it weak however many digits and symbols surround them. */
static const char *const common_cores[] = {
    "a",        "aa",         "aaa",       "ab",        "abc",           "abcd",
    "abcde",    "abcdef",     "abcdefg",   "admin",     "administrator", "asd",
    "asdf",     "asdfgh",     "asdfghjkl", "baoshan",   "changeme",      "china",
    "default",  "dragon",     "dustwatch", "football",  "guest",         "hello",
    "huawei",   "iloveyou",   "letmein",   "login",     "master",        "monkey",
    "passwd",   "password",   "passwords", "qaz",       "qazwsx",        "qazwsxedc",
    "qazxsw",   "qwe",        "qweasd",    "qweasdzxc", "qwer",          "qwert",
    "qwerty",   "qwertyuiop", "root",      "secret",    "server",        "shanghai",
    "superman", "system",     "test",      "user",      "welcome",       "woaini",
    "zaq",      "zaqxsw",     "zxc",       "zxcv",      "zxcvb",         "zxcvbn",
    "zxcvbnm",
};

static void set_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t whylen, const char *fmt, ...)
{
    if (!why || whylen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* Number of UTF-8 code points, or -1 when s is not valid UTF-8: the minimum
 * length counts characters, so a Chinese passphrase is measured like any
 * other rather than by its (three times larger) byte count. */
static long utf8_chars(const unsigned char *s)
{
    long n = 0;
    while (*s) {
        unsigned char c = *s;
        int extra;
        if (c < 0x80)
            extra = 0;
        else if (c >= 0xc2 && c <= 0xdf)
            extra = 1;
        else if (c >= 0xe0 && c <= 0xef)
            extra = 2;
        else if (c >= 0xf0 && c <= 0xf4)
            extra = 3;
        else
            return -1;
        s++;
        for (int i = 0; i < extra; i++, s++)
            if ((*s & 0xc0) != 0x80)
                return -1;
        n++;
    }
    return n;
}

static int is_ascii_letter(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char unleet(char c)
{
    switch (c) {
    case '@':
    case '4':
        return 'a';
    case '0':
        return 'o';
    case '1':
    case '!':
        return 'i';
    case '3':
        return 'e';
    case '$':
    case '5':
        return 's';
    case '7':
        return 't';
    default:
        return c;
    }
}

/* Lower-case letters of pw; a digit or symbol standing between two letters
 * is read as the letter it imitates ("P@ssw0rd" -> "password"). */
static void letter_core(const char *pw, char *out, size_t outlen)
{
    size_t n = 0, len = strlen(pw);
    for (size_t i = 0; i < len && n + 1 < outlen; i++) {
        char c = pw[i];
        if (is_ascii_letter((unsigned char)c)) {
            out[n++] = (char)tolower((unsigned char)c);
        } else if (i > 0 && i + 1 < len && is_ascii_letter((unsigned char)pw[i - 1]) &&
                   is_ascii_letter((unsigned char)pw[i + 1]) && unleet(c) != c) {
            out[n++] = unleet(c);
        }
    }
    out[n] = '\0';
}

static int contains_ci(const char *hay, const char *needle, size_t nlen)
{
    size_t hlen = strlen(hay);
    for (size_t i = 0; nlen && i + nlen <= hlen; i++)
        if (strncasecmp(hay + i, needle, nlen) == 0)
            return 1;
    return 0;
}

/* The whole user name, and each of its parts of 4+ characters ("city",
 * "admin" of "city.admin"): a password built from the login name is the
 * first thing anyone tries. */
static const char *name_inside(const char *pw, const char *username, char *part, size_t partlen)
{
    if (!username || strlen(username) < 3)
        return NULL;
    if (contains_ci(pw, username, strlen(username)))
        return username;
    const char *p = username;
    while (*p) {
        size_t l = strcspn(p, "._-");
        if (l >= 4 && contains_ci(pw, p, l)) {
            snprintf(part, partlen, "%.*s", (int)l, p);
            return part;
        }
        p += l;
        if (*p)
            p++;
    }
    return NULL;
}

static long effective_min_length(void)
{
    long m = g_config.password_min_length;
    return m < MIN_LENGTH_FLOOR ? MIN_LENGTH_FLOOR : m;
}

int srv_password_check_policy(const char *pw, const char *username, char *why, size_t whylen)
{
    if (!pw || !*pw) {
        set_why(why, whylen, "the password is empty");
        return -1;
    }
    size_t bytes = strlen(pw);
    if (bytes > SRV_PASSWORD_MAX_BYTES) {
        set_why(why, whylen, "the password is longer than %d bytes", SRV_PASSWORD_MAX_BYTES);
        return -1;
    }
    long chars = utf8_chars((const unsigned char *)pw);
    if (chars < 0) {
        set_why(why, whylen, "the password is not valid UTF-8");
        return -1;
    }
    int lower = 0, upper = 0, digit = 0, other = 0;
    unsigned char seen[256] = {0};
    int distinct = 0;
    for (const unsigned char *p = (const unsigned char *)pw; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            set_why(why, whylen, "the password contains a control character");
            return -1;
        }
        if (!seen[*p]++)
            distinct++;
        if (*p >= 'a' && *p <= 'z')
            lower = 1;
        else if (*p >= 'A' && *p <= 'Z')
            upper = 1;
        else if (*p >= '0' && *p <= '9')
            digit = 1;
        else
            other = 1;
    }
    long min = effective_min_length();
    if (chars < min) {
        set_why(why, whylen, "the password must have at least %ld characters", min);
        return -1;
    }
    if (lower + upper + digit + other < 3) {
        set_why(why, whylen,
                "the password must mix at least 3 of: lower-case letters, upper-case letters, "
                "digits, other characters");
        return -1;
    }
    if (distinct < 5) {
        set_why(why, whylen, "the password repeats too few different characters");
        return -1;
    }
    char part[72];
    const char *name = name_inside(pw, username, part, sizeof part);
    if (name) {
        set_why(why, whylen, "the password must not contain the user name (\"%s\")", name);
        return -1;
    }
    for (size_t i = 0; i < sizeof common_passwords / sizeof common_passwords[0]; i++) {
        if (strcasecmp(pw, common_passwords[i]) == 0) {
            set_why(why, whylen, "the password is on the list of commonly used passwords");
            return -1;
        }
    }
    char core[SRV_PASSWORD_MAX_BYTES + 1];
    letter_core(pw, core, sizeof core);
    for (size_t i = 0; i < sizeof common_cores / sizeof common_cores[0]; i++) {
        if (strcmp(core, common_cores[i]) == 0) {
            set_why(why, whylen,
                    "the password is a common word (\"%s\") with digits or symbols added",
                    common_cores[i]);
            return -1;
        }
    }
    return 0;
}

/* libsodium's interactive passes; the memory is the operator's (config) */
static size_t hash_memory_bytes(void)
{
    return (size_t)g_config.password_hash_memory_kib * 1024u;
}

int srv_password_hash(const char *pw, char out[crypto_pwhash_STRBYTES])
{
    if (crypto_pwhash_str_alg(out, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              hash_memory_bytes(), crypto_pwhash_ALG_ARGON2ID13) != 0)
        return -1;
    return 0;
}

static int is_argon2id(const char *hash)
{
    return hash &&
           strncmp(hash, crypto_pwhash_argon2id_STRPREFIX,
                   strlen(crypto_pwhash_argon2id_STRPREFIX)) == 0 &&
           strnlen(hash, crypto_pwhash_STRBYTES) < crypto_pwhash_STRBYTES;
}

int srv_password_verify(const char *hash, const char *pw)
{
    if (!is_argon2id(hash) || !pw)
        return -1;
    return crypto_pwhash_argon2id_str_verify(hash, pw, strlen(pw)) == 0 ? 0 : -1;
}

int srv_password_needs_rehash(const char *hash)
{
    if (!is_argon2id(hash))
        return -1;
    int r = crypto_pwhash_argon2id_str_needs_rehash(hash, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                                    hash_memory_bytes());
    return r < 0 ? -1 : r;
}

/* The demo accounts' passwords, published in deploy/README.md (and typed by
 * deploy/demo-seed.sh): anyone may know them, so no account may choose one. */
static const char *const demo_passwords[] = {
    "Huangpu#River2026", "Bund#Lights2026", "Wusong#Port2026", "Paotai#Bay2026",
    "Meilan#Lake2026",   "Dust#Filter2026", "Spark#Guard2026",
};

int srv_password_is_demo(const char *pw)
{
    for (size_t i = 0; pw && i < sizeof demo_passwords / sizeof demo_passwords[0]; i++)
        if (strcasecmp(pw, demo_passwords[i]) == 0)
            return 1;
    return 0;
}

int srv_password_generate(char *out, size_t len, const char *username)
{
    /* no look-alikes (l/1/I, O/0) and no characters shells or config files
     * treat specially, so the password survives being read aloud or pasted */
    static const char *const classes[4] = {"abcdefghijkmnopqrstuvwxyz", "ABCDEFGHJKLMNPQRSTUVWXYZ",
                                           "23456789", "@#%+=-_."};
    if (len < 12 || len > 64)
        return -1;
    for (;;) {
        for (size_t i = 0; i < len; i++) {
            /* the first four positions guarantee every class; then any */
            const char *set = classes[i < 4 ? i : randombytes_uniform(4)];
            out[i] = set[randombytes_uniform((uint32_t)strlen(set))];
        }
        /* shuffle so the class order of the first four is not predictable */
        for (size_t i = len - 1; i > 0; i--) {
            size_t j = randombytes_uniform((uint32_t)(i + 1));
            char t = out[i];
            out[i] = out[j];
            out[j] = t;
        }
        out[len] = '\0';
        if (srv_password_check_policy(out, username, NULL, 0) == 0)
            return 0;
    }
}
