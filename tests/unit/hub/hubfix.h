/*
 * hubfix.h - what the hub's unit tests share (linked into every
 * tests/unit/hub/test_*.c): removing a temporary hub directory, reading one
 * integer with SQL, and importing units from CSV text.
 */
#ifndef DTI_HUBFIX_H
#define DTI_HUBFIX_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* Remove dir and everything under it. */
void fix_rmtree(const char *dir);
/* The one integer a query returns; fails the test when there is none. */
int64_t fix_sql_int(sqlite3 *db, const char *sql);
/* Import units from CSV text (as on date today, or the real today when NULL);
 * fails the test on error; returns the rows read. */
size_t fix_import_units(sqlite3 *db, const char *csv_text, const char *today);

#endif
