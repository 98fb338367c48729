/* IP addresses and networks as the configuration names them: the trusted
 * proxies (trusted_proxies) whose forwarding headers the API believes.
 * Pure: no I/O, no allocation. */
#ifndef DW_SRV_NET_H
#define DW_SRV_NET_H

#include <stddef.h>

typedef struct srv_net {
    int family;             /* AF_INET or AF_INET6 */
    unsigned char addr[16]; /* network byte order; 4 bytes used for AF_INET */
    int prefix;             /* leading bits that must match */
} srv_net;

/* An address in text ("192.0.2.1", "2001:db8::1", also an IPv4-mapped IPv6
 * address, which becomes the IPv4 one).  0, or -1 when it is none. */
int srv_net_addr_parse(const char *text, int *family, unsigned char addr[16]);

/* "10.0.0.1, 10.1.0.0/16, ::1": a comma-separated list of addresses and
 * networks (blanks around items ignored; "" is the empty list) into out
 * (room for max).  0, or -1 with the reason in err. */
int srv_net_list_parse(const char *list, srv_net *out, size_t max, size_t *n, char *err,
                       size_t errlen);

/* 1 when the address (text) is inside one of the n networks. */
int srv_net_list_contains(const srv_net *nets, size_t n, const char *addr);

#endif
