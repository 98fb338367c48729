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

#include <jansson.h>
#include <stddef.h>

struct redisContext;
/* AUTH on a fresh hiredis connection: nothing when password is empty, else
 * AUTH [user] password (ACL user when user is not empty).  0, or -1 when
 * Redis refused (logged without the password). */
int rds_auth(struct redisContext *c, const char *user, const char *password);

#define RDS_USER_MAX 128

/* Parses redis://[[user]:password@]host[:port][/db] (user and password may
 * be %XX-encoded; user "" is Redis's default user); 0 or -1. */
int rds_parse_url_auth(const char *url, char *host, size_t hostlen, int *port, int *db, char *user,
                       size_t userlen, char *password, size_t pwlen);
/* The same without the user name. */
int rds_parse_url(const char *url, char *host, size_t hostlen, int *port, int *db, char *password,
                  size_t pwlen);

int rds_start(const char *url);
void rds_stop(void);

/* 1 if the last command succeeded, 0 otherwise. */
int rds_is_up(void);

/* Queues PUBLISH channel payload and, when key is non-NULL, SET key payload
 * EX ttl_s.  Copies its arguments. */
void rds_publish(const char *channel, const char *key, int ttl_s, const char *payload);

/* PUBLISH at once through one of the API's read connections (100 ms timeouts), for a
 * message that must be in Redis before the caller goes on: Redis then delivers it to
 * every subscriber before anything published later, by anyone.  0 when Redis took it;
 * -1 otherwise, and it is queued as by rds_publish() (delivered when Redis is back). */
int rds_publish_now(const char *channel, const char *payload);

/* Latest values: hash RDS_LATEST_PREFIX<enterprise id> (the id, never the
 * code: a district may change an enterprise's code), field = point code,
 * value = {"ts_us":<epoch microseconds>,"v":<%.17g>,"q":<quality>}.  Writes
 * only move a field forward in time (a Lua script decides in Redis), so a
 * back-filled batch never replaces a newer value, like point_latest.  The
 * field RDS_LATEST_COMPLETE is set only by rds_latest_seed: a hash without it
 * may lack points and must not be trusted for a whole enterprise.  When an
 * update is lost (queue full, Redis error) the hash is deleted once Redis
 * answers again. */
#define RDS_LATEST_PREFIX "dw:latest:"
/* ':' cannot occur in a point code, so no point can shadow the marker */
#define RDS_LATEST_COMPLETE ":complete"
void rds_latest(const char *key, const char *field, long long ts_us, const char *value);
/* The same for n fields of one hash in one command (one script run). */
void rds_latest_many(const char *key, size_t n, const char *const *fields, const long long *ts_us,
                     const char *const *values);

/* The one encoder of the latest-value contract above, for writers (the ingest
 * writer, the API's copy from PostgreSQL) and the reader (the API).  Values
 * are printed with %.17g so they parse back to the same double. */
#define RDS_LATEST_KEY_LEN   48
#define RDS_LATEST_VALUE_LEN 96
void rds_latest_key(char out[RDS_LATEST_KEY_LEN], long long enterprise_id);
void rds_latest_value(char out[RDS_LATEST_VALUE_LEN], long long ts_us, double v, int quality);
/* A field's value (borrowed JSON object as stored) -> its parts; 0, or -1
 * when malformed (ts_us not an integer or v not a number). */
int rds_latest_parse(const json_t *value, long long *ts_us, double *v, int *quality);

/* For API threads: HGETALL through a small pool of read connections with
 * 100 ms timeouts; after any failure Redis is skipped for a second.  Calls
 * each(arg, field, value) per field (strings valid during the call only).
 * 1: the hash exists, 0: it does not, -1: Redis unavailable or failed. */
/* 0 while reads are being skipped after a failure (or Redis is not started). */
int rds_read_available(void);
int rds_hgetall(const char *key, void (*each)(void *arg, const char *field, const char *value),
                void *arg);

/* Queues a full copy of one enterprise's latest values (read from
 * PostgreSQL) and marks the hash complete.  gen is rds_latest_generation()
 * taken before the PostgreSQL read: if an update was lost since, the copy is
 * not written (it could be older than PostgreSQL by then).  Copies its
 * arguments; never blocks. */
unsigned long rds_latest_generation(void);
void rds_latest_seed(const char *key, size_t n, const char *const *fields, const long long *ts_us,
                     const char *const *values, unsigned long gen);

#endif
