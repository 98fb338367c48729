/* Unit tests for the client address behind trusted proxies (api_client,
 * srv_net): networks, the forwarding headers read from the right, and what
 * an untrusted peer's headers are worth (nothing). */
#include "api_client.h"
#include "srv_config.h"
#include "srv_net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_check.h"

static void test_networks(void)
{
    srv_net nets[8];
    size_t n;
    char err[160];
    CHECK(srv_net_list_parse(" 10.0.0.0/8 ,192.0.2.1, 2001:db8::/32,", nets, 8, &n, err,
                             sizeof err) == 0 &&
          n == 3);
    CHECK(srv_net_list_contains(nets, n, "10.200.3.4"));
    CHECK(!srv_net_list_contains(nets, n, "11.0.0.1"));
    CHECK(srv_net_list_contains(nets, n, "192.0.2.1"));
    CHECK(!srv_net_list_contains(nets, n, "192.0.2.2"));
    CHECK(srv_net_list_contains(nets, n, "::ffff:10.1.1.1")); /* IPv4-mapped */
    CHECK(srv_net_list_contains(nets, n, "2001:db8:ffff::1"));
    CHECK(!srv_net_list_contains(nets, n, "2001:db9::1"));
    CHECK(!srv_net_list_contains(nets, n, "not-an-address"));
    CHECK(srv_net_list_parse("", nets, 8, &n, err, sizeof err) == 0 && n == 0);
    static const char *const bad[] = {"10.0.0.0/33", "10.0.0.1/",   "host.example",
                                      "::1/129",     "10.0.0.0/-1", "10.0.0.0/8/8"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(srv_net_list_parse(bad[i], nets, 8, &n, err, sizeof err) != 0 && strstr(err, "\""));
    CHECK(srv_net_list_parse("1.1.1.1,2.2.2.2,3.3.3.3", nets, 2, &n, err, sizeof err) != 0);
}

typedef struct {
    const char *peer, *forwarded, *xff, *expect;
} addr_case;

static void test_addresses(void)
{
    static const addr_case cases[] = {
        {"127.0.0.1", NULL, "203.0.113.7", "203.0.113.7"},
        {"127.0.0.1", NULL, "198.51.100.1, 203.0.113.8", "203.0.113.8"},
        {"127.0.0.1", NULL, "203.0.113.9, 10.0.0.5, 127.0.0.1", "203.0.113.9"},
        {"127.0.0.1", NULL, "203.0.113.10:5555", "203.0.113.10"},
        {"127.0.0.1", "for=\"[2001:db8::5]:4711\";proto=https", NULL, "2001:db8::5"},
        {"127.0.0.1", "For=192.0.2.60, for=10.0.0.9", "203.0.113.1", "192.0.2.60"},
        {"127.0.0.1", NULL, "unknown", "127.0.0.1"},
        {"127.0.0.1", NULL, "203.0.113.1, garbage, 10.0.0.2", "10.0.0.2"},
        {"127.0.0.1", NULL, "10.0.0.1, 10.0.0.2", "10.0.0.1"},
        {"127.0.0.1", NULL, NULL, "127.0.0.1"},
        /* an untrusted peer's headers count for nothing */
        {"192.0.2.99", NULL, "203.0.113.7", "192.0.2.99"},
        {"192.0.2.99", "for=203.0.113.7", NULL, "192.0.2.99"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const addr_case *c = &cases[i];
        const char *fwd[1] = {c->forwarded}, *xff[1] = {c->xff};
        char out[64];
        api_client_address(c->peer, fwd, c->forwarded ? 1 : 0, xff, c->xff ? 1 : 0, out,
                           sizeof out);
        if (strcmp(out, c->expect) != 0) {
            fprintf(stderr, "case %zu: got %s, want %s\n", i, out, c->expect);
            failures++;
        }
    }
}

static void test_login_budget(void)
{
    /* burst 3, one back per minute: the fourth failure waits about a minute */
    for (int i = 0; i < 3; i++)
        CHECK(api_client_login_take("203.0.113.20") == 0);
    long wait = api_client_login_take("203.0.113.20");
    CHECK(wait >= 59 && wait <= 60);
    CHECK(api_client_login_take("203.0.113.21") == 0); /* another address */
    api_client_login_refund("203.0.113.20");
    CHECK(api_client_login_take("203.0.113.20") == 0);
    /* an IPv6 /64 is one client */
    for (int i = 0; i < 3; i++) {
        char a[64];
        snprintf(a, sizeof a, "2001:db8:0:1::%d", i + 1);
        CHECK(api_client_login_take(a) == 0);
    }
    CHECK(api_client_login_take("2001:db8:0:1::ff") > 0);
    CHECK(api_client_login_take("2001:db8:0:2::1") == 0);
}

int main(void)
{
    setenv("DUSTWATCH_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8", 1);
    setenv("DUSTWATCH_LOGIN_IP_BURST", "3", 1);
    setenv("DUSTWATCH_LOGIN_IP_PER_MINUTE", "1", 1);
    char err[256];
    if (srv_config_load(NULL, err, sizeof err) != 0) {
        fprintf(stderr, "config: %s\n", err);
        return 1;
    }
    test_networks();
    test_addresses();
    test_login_budget();
    srv_config_free();
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
