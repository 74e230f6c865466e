/*
 * The commands of beamline-bench and the helpers they share.
 */
#ifndef BL_BENCH_COMMANDS_H
#define BL_BENCH_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>

/* Each command takes main's arguments (argv[1] is the command's name)
 * and this program's path, and returns the exit status. */
int actors_main(int argc, char **argv, const char *self);
int run_main(int argc, char **argv, const char *self);
int compare_main(int argc, char **argv);
int machine_class_main(int argc, char **argv, const char *self);

/* Parse a decimal integer in [min, max]; 0 or -1 when invalid. */
int parse_unsigned(const char *text, unsigned min, unsigned max, unsigned *out);

/* Parse a finite non-negative number; 0 or -1 when invalid. */
int parse_seconds(const char *text, double *out);

/* Whether `name` is one of the comma-separated items of `list`. */
bool name_in_list(const char *list, const char *name);

/* The build tree that contains `self`, the parent of its bench/ folder.
 * Returns 0, or -1 after printing why. */
int default_build_dir(char *out, size_t size, const char *self);

/* CMAKE_BUILD_TYPE of the build tree at `build_dir`, from its
 * CMakeCache.txt, or this program's own build type when it has none. */
void build_type_of(char *out, size_t size, const char *build_dir);

#endif
