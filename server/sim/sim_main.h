/*
 * sim_main — `dustwatch simulate`: a fleet of enterprise gateways pushing
 * readings to the ingest listener in our format, Hebei V1.1 or MEM dialect.
 *
 * One libevent loop (evhttp client).  Each batch carries an Idempotency-Key
 * (reused on retries); 5xx, 429 and connection errors are retried with
 * exponential backoff honouring Retry-After; other 4xx count as failed.
 * One summary line every 10 s: sent, acked, retried, failed.
 * Not thread-safe; call once from main().  Returns a process exit code
 * (0 ok, 1 failures in --once mode or runtime error, 2 usage error).
 */
#ifndef DW_SIM_MAIN_H
#define DW_SIM_MAIN_H

int sim_main(int argc, char **argv);

#endif /* DW_SIM_MAIN_H */
