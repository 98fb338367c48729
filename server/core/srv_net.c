#include "srv_net.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int srv_net_addr_parse(const char *text, int *family, unsigned char addr[16])
{
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, text, addr) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, text, addr) != 1)
        return -1;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(addr, mapped, sizeof mapped) == 0) {
        memmove(addr, addr + 12, 4);
        memset(addr + 4, 0, 12);
        *family = AF_INET;
        return 0;
    }
    *family = AF_INET6;
    return 0;
}

static int net_parse(const char *item, srv_net *out)
{
    char buf[64];
    if (strlen(item) >= sizeof buf)
        return -1;
    snprintf(buf, sizeof buf, "%s", item);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash++ = '\0';
    if (srv_net_addr_parse(buf, &out->family, out->addr) != 0)
        return -1;
    int bits = out->family == AF_INET ? 32 : 128;
    out->prefix = bits;
    if (slash) {
        if (!*slash || strlen(slash) > 3)
            return -1;
        for (const char *p = slash; *p; p++)
            if (!isdigit((unsigned char)*p))
                return -1;
        out->prefix = atoi(slash);
        if (out->prefix > bits)
            return -1;
    }
    return 0;
}

int srv_net_list_parse(const char *list, srv_net *out, size_t max, size_t *n, char *err,
                       size_t errlen)
{
    *n = 0;
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *last = end;
        while (last > p && (last[-1] == ' ' || last[-1] == '\t'))
            last--;
        char item[64];
        size_t len = (size_t)(last - p);
        if (len >= sizeof item || *n >= max) {
            snprintf(err, errlen, "%s", *n >= max ? "too many networks" : "an entry is too long");
            return -1;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (net_parse(item, &out[*n]) != 0) {
            snprintf(err, errlen, "\"%s\" is not an IP address or network (address/bits)", item);
            return -1;
        }
        (*n)++;
        p = end;
    }
    return 0;
}

int srv_net_list_contains(const srv_net *nets, size_t n, const char *addr)
{
    int family;
    unsigned char a[16];
    if (!addr || srv_net_addr_parse(addr, &family, a) != 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const srv_net *net = &nets[i];
        if (net->family != family)
            continue;
        int whole = net->prefix / 8, rest = net->prefix % 8;
        if (memcmp(net->addr, a, (size_t)whole) != 0)
            continue;
        if (rest) {
            unsigned char mask = (unsigned char)(0xff << (8 - rest));
            if ((net->addr[whole] & mask) != (a[whole] & mask))
                continue;
        }
        return 1;
    }
    return 0;
}
