/*
 * The SQLite connection behind a halo_db, for the modules of the results library that
 * query it (report, plot), and for their tests. Nothing above results/ includes this header:
 * it is what keeps sqlite3.h out of the layers above.
 */
#ifndef HALO_RESULTS_DB_INTERNAL_H
#define HALO_RESULTS_DB_INTERNAL_H

#include "results/db.h"

#include <sqlite3.h>

/* The connection (owned by db; valid until halo_db_free). */
sqlite3 *halo__db_handle(halo_db *db);

#endif /* HALO_RESULTS_DB_INTERNAL_H */
