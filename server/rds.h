/* Redis: live state and fan-out, never the only copy of anything.
 *
 * One publisher thread owns a synchronous hiredis context with connect and
 * command timeouts.  Producers (the ingest writer, the worker) hand it
 * messages through a bounded queue with rds_publish(), which never blocks:
 * when Redis is down or slow the queue fills and the oldest live updates are
 * dropped, which is what a live view wants.  After an error the context is
 * thrown away (a hiredis context is dead after any error) and rebuilt with
 * exponential backoff, keepalive re-applied. */
#ifndef DW_RDS_H
#define DW_RDS_H

#include <stddef.h>

/* Parses redis://[:password@]host[:port][/db]; 0 or -1. */
int rds_parse_url(const char *url, char *host, size_t hostlen, int *port, int *db, char *password,
                  size_t pwlen);

int rds_start(const char *url);
void rds_stop(void);

/* 1 if the last command succeeded, 0 otherwise. */
int rds_is_up(void);

/* Queues PUBLISH channel payload and, when key is non-NULL, SET key payload
 * EX ttl_s.  Copies its arguments. */
void rds_publish(const char *channel, const char *key, int ttl_s, const char *payload);

/* Queue an arbitrary XADD-free HSET of latest values: key field value. */
void rds_hset(const char *key, const char *field, const char *value);

#endif
