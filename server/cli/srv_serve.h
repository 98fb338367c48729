/* `dustwatch serve`: runs the roles named by --roles in one process. */
#ifndef DW_SRV_SERVE_H
#define DW_SRV_SERVE_H

#include "srv_role.h"

#include <stddef.h>

/* roles (n of them, borrowed) are every role this binary can run, in start
 * order; --roles (or the roles key) picks a subset by name. */
int srv_serve_main(int argc, char **argv, const srv_role *const *roles, size_t n);

#endif
