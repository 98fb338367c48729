/* Handlers named in routes.c, one file per resource. */
#ifndef DW_API_HANDLERS_H
#define DW_API_HANDLERS_H

#include "api.h"

/* meta.c */
int api_version_get(api_req *r);

#endif
