/* SPDX-License-Identifier: Apache-2.0 */
/* Table-driven config tests: each row loads a YAML text, runs validation (and analysis when
 * asked) and expects a message with a code at a field path, or no message with that code. */
#ifndef MESHLET_TESTS_CONFIG_CASE_H
#define MESHLET_TESTS_CONFIG_CASE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/field.h"
#include "core/strbuf.h"
#include "harness.h"

struct config_case {
    const char *name; /* behaviour, used as the test's name */
    const char *yaml;
    const char *code; /* expected code, e.g. "IST0106" */
    const char *path; /* expected field path; NULL: any */
    const char *text; /* substring of the message; NULL: any */
    bool absent;      /* expect no message with this code (at this path) */
    bool analyze;     /* run cross-resource analysis too */
};

/* Load <yaml> into <set>/<dl>. */
static inline void
config_case_load(const char *yaml, bool analyze, struct resource_set *set, struct diag_list *dl)
{
    const char *dir = harness_tmpdir();
    const char *path = harness_write(dir, "case.yaml", yaml);
    config_init(set);
    diag_list_init(dl);
    const char *paths[] = {path};
    int rc = config_load(set, paths, 1, NULL, dl);
    assert_int_equal(rc, 0);
    if (analyze) config_analyze(set, dl);
}

static inline void
config_case_dump(const struct diag_list *dl)
{
    struct strbuf sb;
    strbuf_init(&sb, 1 << 20);
    diag_list_format(dl, false, &sb);
    fprintf(stderr, "messages:\n%s", strbuf_str(&sb));
    strbuf_fini(&sb);
}

static inline bool
config_case_found(const struct diag_list *dl, const struct config_case *c)
{
    for (size_t i = 0; i < dl->len; i++) {
        const struct diag *d = &dl->items[i];
        if (strcmp(d->code, c->code)) continue;
        if (c->path && strcmp(d->path, c->path)) continue;
        if (c->text && !strstr(d->message, c->text)) continue;
        return true;
    }
    return false;
}

static void
config_case_run(void **state)
{
    const struct config_case *c = *state;
    struct resource_set set;
    struct diag_list dl;
    config_case_load(c->yaml, c->analyze, &set, &dl);
    bool found = config_case_found(&dl, c);
    if (found == c->absent) {
        fprintf(stderr, "case '%s': expected %s%s at %s%s%s\n", c->name, c->absent ? "no " : "",
                c->code, c->path ? c->path : "(any path)", c->text ? " with text " : "",
                c->text ? c->text : "");
        config_case_dump(&dl);
    }
    assert_true(found != c->absent);
    /* Every message carries a location and a resource or file. */
    for (size_t i = 0; i < dl.len; i++) assert_non_null(dl.items[i].file);
    diag_list_fini(&dl);
    config_fini(&set);
}

/* Run every row of <cases> as its own cmocka test. */
static inline int
config_case_run_all(const char *group, const struct config_case *cases, size_t n)
{
    struct CMUnitTest *tests = calloc(n, sizeof(*tests));
    for (size_t i = 0; i < n; i++) {
        tests[i].name = cases[i].name;
        tests[i].test_func = config_case_run;
        tests[i].initial_state = (void *)&cases[i];
    }
    int rc = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
    free(tests);
    harness_cleanup();
    return rc;
}

#endif
