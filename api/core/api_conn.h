/* The API's connections, around libmicrohttpd: its own listening socket and
 * acceptor thread (total cap, back-off and a reserve descriptor when
 * descriptors run out), total deadlines for a request's headers and body (a
 * reaper thread), and rate limits per client IP and per credential.
 * api_server.c starts the daemon with MHD_USE_NO_LISTEN_SOCKET and hands
 * api_conn_notify to MHD_OPTION_NOTIFY_CONNECTION. */
#ifndef DW_API_CONN_H
#define DW_API_CONN_H

#include <microhttpd.h>
#include <sys/socket.h>

/* Binds api_listen's address ss and prepares the caps and rate limits; logs
 * and returns -1 on failure. */
int api_conn_listen(const struct sockaddr_storage *ss);

/* MHD_OPTION_CONNECTION_LIMIT for the daemon: above what the acceptor ever
 * hands it (libmicrohttpd 0.9.75 hangs a worker that refuses an added
 * connection at its own limit). */
unsigned api_conn_mhd_limit(void);

/* Starts the acceptor and the deadline reaper for daemon d; -1 on failure
 * (then api_conn_stop() cleans up). */
int api_conn_start(struct MHD_Daemon *d);

/* For MHD_OPTION_NOTIFY_CONNECTION. */
void api_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode toe);

/* The connection's current phase is due in seconds: headers (in_body 0) or
 * body (1); seconds 0: no deadline (the request is being answered). */
void api_conn_due(struct MHD_Connection *conn, int in_body, long seconds);

/* 0, or the seconds a request from ip with credential (NULL: none) must wait;
 * *who names the limit ("this address", "this credential"). */
int api_conn_rate(const char *ip, const char *credential, const char **who);

/* Closes the listening socket (no new connections). */
void api_conn_stop_accepting(void);
/* Stops both threads and frees everything; before MHD_stop_daemon. */
void api_conn_stop(void);

#endif
