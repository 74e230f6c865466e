/*
 * The location of the sql block's embedded SQLite database beneath a
 * tenant's folder. The fs block uses these names too, so that its jobs
 * cannot replace or delete the files under an open connection.
 */
#ifndef BL_BLOCKS_SQL_EMBEDDED_H
#define BL_BLOCKS_SQL_EMBEDDED_H

#include <stdbool.h>
#include <string.h>

#define SQL_EMBEDDED_FOLDER "sql"
#define SQL_EMBEDDED_FILE "default.db"

/* Return whether `name`, a name in the embedded folder, is the database
 * or one of the files SQLite keeps beside it: -wal, -shm and -journal. */
static inline bool sql_embedded_is_file(const char *name)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
	size_t base = sizeof SQL_EMBEDDED_FILE - 1;

	if (strncmp(name, SQL_EMBEDDED_FILE, base) != 0)
		return false;
	for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
		if (strcmp(name + base, suffixes[i]) == 0)
			return true;
	}
	return false;
}

#endif
