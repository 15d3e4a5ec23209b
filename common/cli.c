/*
 * cli.c - shared command-line conventions.
 */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const char *program = "dti";

void cli_set_program(const char *name)
{
    program = name;
}

int cli_fail(int r, const struct dti_err *e, const char *what)
{
    fflush(stdout); /* what was printed so far comes first */
    fprintf(stderr, "%s: cannot %s: %s\n", program, what, dti_err_text(e, r));
    return dti_transient(r) ? EXIT_TEMPFAIL : 1;
}

int cli_usage(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", program);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return EXIT_USAGE;
}

const char *cli_dir(const char *dir_opt, const char *env_name, const char *dflt)
{
    if (dir_opt && *dir_opt)
        return dir_opt;
    const char *env = getenv(env_name);
    return env && *env ? env : dflt;
}

/* 15 significant digits (DBL_DIG): every decimal a person typed with up to 15
 * digits prints back exactly as typed, without binary noise like 0.64000000000000001. */
int cli_print_json(json_t *doc)
{
    int r = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    fputc('\n', stdout);
    json_decref(doc);
    return r == 0 && fflush(stdout) == 0 ? 0 : 1;
}

json_t *cli_json_value(const struct value *v)
{
    switch (v->kind) {
    case VALUE_NUMBER:
        if (v->num == (double)(json_int_t)v->num && v->num > -9e15 && v->num < 9e15)
            return json_integer((json_int_t)v->num);
        return json_real(v->num);
    case VALUE_BOOL:
        return json_boolean(v->b);
    case VALUE_TEXT:
        return json_string(v->text);
    case VALUE_NONE:
        break;
    }
    return json_null();
}
