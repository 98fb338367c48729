/* The api role of `dustwatch serve`: the route table, every resource's
 * statements, the daemon and the live-event streams (routes.c); and
 * `dustwatch routes`, the same table printed. */
#ifndef DW_API_ROLE_H
#define DW_API_ROLE_H

#include "srv_role.h"

#include <stddef.h>

extern const srv_role api_role;

/* `dustwatch routes [--json]`: prints the route table; needs no
 * configuration, database or listener. */
int api_routes_main(int argc, char **argv);

#endif
