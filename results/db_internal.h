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

/* HALO_OK when db may be written; HALO_ERR_ARG naming its path when it was opened
   read-only. */
int halo__db_writable(const halo_db *db, halo_err *err);

/* SQLite's last message on db's connection with the system's reason (a full disk, the
   file-size limit), into buf (cap bytes; returned); notes a failure for want of space
   (halo_db_out_of_space). */
const char *halo__db_errmsg(halo_db *db, char *buf, size_t cap);

#endif /* HALO_RESULTS_DB_INTERNAL_H */
