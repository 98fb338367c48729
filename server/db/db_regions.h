/* Regions: the city -> district -> street/town/park tree. */
#ifndef DW_DB_REGIONS_H
#define DW_DB_REGIONS_H

#include "db.h"

void db_regions_register(void);

/* The regions scope s reaches, each with the number of its enterprises in
 * scope, as a JSON array (city, districts, then the rest by code).  A scoped
 * read (one round trip); *out is a new reference, NULL only if PostgreSQL
 * answered no row. */
db_status db_regions_tree(db_conn *c, const db_scope *s, json_t **out);

#endif
