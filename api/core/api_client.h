/* Who the client is, and how many logins it may still try.
 *
 * The client address is the TCP peer's, unless the peer is one of the
 * trusted_proxies: then it is the address the proxies say they forwarded
 * for (Forwarded: for=, else X-Forwarded-For), read from the right and
 * skipping the proxies themselves, so a client cannot choose its own address
 * by sending the header: only what a trusted proxy appended counts.  The
 * audit trail, the sessions' source_ip and the login budget below all use it.
 *
 * The login budget is a token bucket per client address (an IPv6 address
 * counts by its /64): login_ip_burst attempts, earned back at
 * login_ip_per_minute.  An attempt takes a token before the password is
 * hashed and a successful login gives it back, so one caller can neither
 * lock every known user name nor keep the hashing slots busy, while people
 * who type their password right are never limited. */
#ifndef DW_API_CLIENT_H
#define DW_API_CLIENT_H

#include <stddef.h>

/* Reads trusted_proxies (already checked by srv_config_load).  Idempotent. */
void api_client_init(void);

/* The client address into out (text, at most outlen - 1 bytes).  peer is the
 * TCP peer's address; forwarded and xff hold the values of every Forwarded
 * and X-Forwarded-For header line in the order received (n of each). */
void api_client_address(const char *peer, const char *const *forwarded, size_t n_forwarded,
                        const char *const *xff, size_t n_xff, char *out, size_t outlen);

/* Takes one login attempt from the client's budget: 0 when it may try now,
 * else the seconds until it may (for Retry-After). */
long api_client_login_take(const char *client);
/* Gives the attempt back (the login succeeded). */
void api_client_login_refund(const char *client);

#endif
