/*
 * cli.h - what both programs' command lines share: the program name in
 * messages ("dti-hub: cannot ...: reason"), the data directory (--dir, then
 * an environment variable, then a default), JSON output to stdout, and
 * exit codes (sysexits.h: 64 usage, 75 temporary failure).
 */
#ifndef DTI_CLI_H
#define DTI_CLI_H

#include <jansson.h>
#include <stdbool.h>

#include "err.h"
#include "value.h"

#define EXIT_USAGE 64
#define EXIT_TEMPFAIL 75

/* Set once at start: the name used in messages. */
void cli_set_program(const char *name);
/* Print "PROG: cannot WHAT: detail" to stderr; returns the exit code for r
 * (EXIT_TEMPFAIL for transient codes, 1 otherwise). */
int cli_fail(int r, const struct dti_err *e, const char *what);
/* Print "PROG: MESSAGE" to stderr (usage mistakes); returns EXIT_USAGE. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The directory: dir_opt if given, else $env_name if set, else dflt. */
const char *cli_dir(const char *dir_opt, const char *env_name, const char *dflt);
/* A value as JSON: integer, real, boolean or string; null when not collected. */
json_t *cli_json_value(const struct value *v);
/* Print one JSON document (UTF-8, indented) to stdout and release it. 0 or 1. */
int cli_print_json(json_t *doc);

#endif
