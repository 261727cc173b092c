/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers for cmocka unit tests: temporary files and directories, guard-page inputs,
 * a fake clock, a feeder that splits an input at every byte boundary, and allocation-failure
 * injection. */
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
 * read past the end faults. Valid until the next call (one buffer at a time; the split
 * feeder below has its own). */
const char *harness_guarded(const void *data, size_t len);

struct snapshot;
struct model_options;

/* The snapshot built with <opt> from the YAML files <paths>, so that tests of the layers
 * above model/ need no config/ header. The resource set is freed before it returns (the
 * snapshot needs none of it). Fails the test when a file does not load or the build fails.
 * Release with model_release(). */
struct snapshot *harness_snapshot(const char *const *paths, size_t n,
                                  const struct model_options *opt);

/* Remove every directory harness_tmpdir() made. */
void harness_cleanup(void);

/* ---- fake clock ----
 * core/now.h's now_ms() returns the fake time while one is set, on every thread, so the
 * loop's timers, outlier detection and log rate limits run on test time. */

/* From now on now_ms() returns <ms> (> 0). */
void harness_clock_set(uint64_t ms);

/* Move the fake clock forward by <ms> (it must be set). Returns the new time. */
uint64_t harness_clock_advance(uint64_t ms);

/* Back to the real clock. */
void harness_clock_real(void);

/* ---- every-byte-boundary split feeder ----
 * An incremental consumer: <reset> starts over on a new input; <feed> takes the next piece
 * (<len> bytes in a copy whose end touches a guard page, valid only during the call: keep
 * what must survive) and returns 0 to be fed on or non-zero when the consumer is finished
 * (done or failed); <result> writes what the consumer made of the input so far (decoded
 * bytes, status, leftover) as text into <out> of <cap> bytes. */
struct harness_feeder {
    void (*reset)(void *ctx);
    int (*feed)(void *ctx, const char *piece, size_t len);
    void (*result)(void *ctx, char *out, size_t cap);
};

/* Feed <in> (<len> bytes) whole, then in two pieces split at every byte boundary, then in
 * three pieces at every pair of boundaries (inputs up to 600 bytes), and fail the running
 * test, naming the split, at the first result that differs from the whole-input one. The
 * whole-input result goes to <whole> (<cap> bytes; may be NULL). Returns the number of
 * feeds compared. */
size_t harness_split_feed(const struct harness_feeder *f, void *ctx, const void *in, size_t len,
                          char *whole, size_t cap);

/* ---- allocation-failure injection ----
 * Unit test binaries are linked with -Wl,--wrap for malloc, calloc and realloc (Makefile),
 * so every allocation the binary's own objects make (meshlet's code and the test) passes
 * through the harness; libraries (libc internals, OpenSSL, libfyaml, cmocka) allocate
 * unhindered. */

/* The allocation numbered <n> from now (0: the next one) returns NULL; only that one. */
void harness_alloc_fail_at(size_t n);

/* Stop injecting; returns how many allocations failed by injection since the last arming. */
size_t harness_alloc_fail_off(void);

/* Allocations made since the last harness_alloc_fail_at() or _off(). */
size_t harness_alloc_count(void);

/* Run <fn>(<arg>) once per allocation it makes, failing the k-th in run k (k = 0, 1, ...),
 * until a run completes with no failure injected (at most <max_runs> runs; the test fails if
 * that is not enough). <fn> must cope with each failure and free what it took: under ASan a
 * leak on any error path fails the binary. Returns the number of runs that saw a failure. */
size_t harness_alloc_sweep(void (*fn)(void *arg), void *arg, size_t max_runs);

#endif
