/* What `dustwatch serve` needs to know of a role (ingest, api, worker).
 *
 * The serve shell (server/cli/srv_serve.c) starts and drains whatever roles
 * the binary's composition root hands it (api/main.c), so no layer has to
 * call up to the one above it: the ingest and worker libraries and the api
 * each export one srv_role, and only main.c names all three. */
#ifndef DW_SRV_ROLE_H
#define DW_SRV_ROLE_H

struct event_base;

typedef struct srv_role {
    const char *name; /* as given to --roles */
    const char *help; /* one line for `serve --help` */
    /* Called on the main thread once the loop exists; 0, or -1 after logging
     * why (start-up then fails as a whole). */
    int (*start)(struct event_base *base);
    /* Stop taking new work (NULL: nothing to refuse). */
    void (*stop_accepting)(void);
    /* Requests still being answered (NULL: none ever). */
    int (*in_flight)(void);
    /* Frees everything; called even when start failed or never ran. */
    void (*stop)(void);
} srv_role;

#endif
