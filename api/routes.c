/* The one route table.  Data, not code: the dispatcher alone answers
 * 404/405/OPTIONS, and tests enumerate this table (e.g. to prove that every
 * object route hides foreign tenants). */
#include "api.h"
#include "api_handlers.h"

#define KIB 1024
#define MIB (1024 * 1024)

const api_route api_routes[] = {
    {"GET", "/api/v1/version", api_version_get, API_PUBLIC, 0},
};
const size_t api_n_routes = sizeof api_routes / sizeof api_routes[0];
