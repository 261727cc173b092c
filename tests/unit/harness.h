/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers for cmocka unit tests: temporary files and directories, and table-driven
 * cases where each row is a cmocka test of its own. */
#ifndef MESHLET_TESTS_HARNESS_H
#define MESHLET_TESTS_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>

/* A fresh directory under $TMPDIR, removed (with its contents) by harness_cleanup().
 * Returns a static path valid until the next call. */
const char *harness_tmpdir(void);

/* Write <text> to <dir>/<name> (creating parent directories); returns the path in a static
 * ring of buffers (valid for the next few calls). */
const char *harness_write(const char *dir, const char *name, const char *text);

/* Write <len> bytes. */
const char *harness_write_bytes(const char *dir, const char *name, const void *data, size_t len);

/* A copy of <data> placed so that its last byte is followed by an inaccessible page: any
 * read past the end faults. Valid until the next call (one buffer at a time). */
const char *harness_guarded(const void *data, size_t len);

/* Remove every directory harness_tmpdir() made. */
void harness_cleanup(void);

#endif
