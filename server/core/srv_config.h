/* Configuration: one declarative table (srv_config.def), read from an optional
 * file of `key = value` lines and overridden by DUSTWATCH_<KEY> environment
 * variables.  Loaded once at start-up; read-only afterwards, so every thread
 * may read g_config without locking. */
#ifndef DW_SRV_CONFIG_H
#define DW_SRV_CONFIG_H

#include <stddef.h>
#include <stdio.h>

typedef struct srv_config {
#define X(name, type, def, help) SRV_CFG_FIELD_##type(name)
#define SRV_CFG_FIELD_STR(n)     char *n;
#define SRV_CFG_FIELD_ADDR(n)    char *n;
#define SRV_CFG_FIELD_PATH(n)    char *n;
#define SRV_CFG_FIELD_INT(n)     long n;
#define SRV_CFG_FIELD_SIZE(n)    long n;
#include "srv_config.def"
#undef X
} srv_config;

extern srv_config g_config;

/* The most entries trusted_proxies may list. */
#define SRV_CONFIG_MAX_PROXIES 32

/* Loads defaults, then `path` (NULL: none), then the environment.  On error
 * returns -1 with a one-line message in err.  Calling it again frees the
 * previous strings. */
int srv_config_load(const char *path, char *err, size_t errlen);
void srv_config_free(void);

/* Writes the example file listing every key with its default and help. */
void srv_config_write_example(FILE *out);

/* Splits "host:port" (IPv6 as [::1]:port) into host/port; 0 or -1. */
int srv_config_split_addr(const char *addr, char *host, size_t hostlen, int *port);

#endif
