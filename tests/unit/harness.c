/* SPDX-License-Identifier: Apache-2.0 */
/* Test helpers: temporary files for loaders, guard-page copies, the fake clock, the split
 * feeder and allocation-failure injection (see harness.h). */
#include "harness.h"

#include <ftw.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "core/now.h"
#include "core/strbuf.h"
#include "model/model.h"

static char dirs[64][256];
static int n_dirs;

const char *
harness_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[256];
    snprintf(tmpl, sizeof(tmpl), "%s/meshlet-test-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        abort();
    }
    if (n_dirs < 64) snprintf(dirs[n_dirs++], sizeof(dirs[0]), "%s", tmpl);
    return dirs[n_dirs - 1];
}

static void
mkdirs(const char *path)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(buf, 0755);
        *p = '/';
    }
}

const char *
harness_write_bytes(const char *dir, const char *name, const void *data, size_t len)
{
    static char ring[8][512];
    static int next;
    char *path = ring[next++ % 8];
    snprintf(path, 512, "%s/%s", dir, name);
    mkdirs(path);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        perror(path);
        abort();
    }
    fclose(f);
    return path;
}

const char *
harness_write(const char *dir, const char *name, const char *text)
{
    return harness_write_bytes(dir, name, text, strlen(text));
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void
harness_cleanup(void)
{
    for (int i = 0; i < n_dirs; i++) nftw(dirs[i], remove_one, 16, FTW_DEPTH | FTW_PHYS);
    n_dirs = 0;
}

/* A mapping whose last page is PROT_NONE; copies are placed to end right before it. Kept
 * and reused while big enough, so the feeder's many copies cost no system call. */
struct guard {
    char *region;
    size_t region_len;
};

static const char *
guard_copy(struct guard *g, const void *data, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (len + page - 1) / page + 1;
    if (!g->region || g->region_len < pages * page) {
        if (g->region) munmap(g->region, g->region_len);
        g->region_len = pages * page;
        g->region =
            mmap(NULL, g->region_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (g->region == MAP_FAILED) {
            perror("mmap");
            abort();
        }
        if (mprotect(g->region + g->region_len - page, page, PROT_NONE)) {
            perror("mprotect");
            abort();
        }
    }
    char *start = g->region + g->region_len - page - len;
    if (len) memcpy(start, data, len);
    return start;
}

static struct guard user_guard, feed_guard;

const char *
harness_guarded(const void *data, size_t len)
{
    return guard_copy(&user_guard, data, len);
}

/* ---- fake clock ---- */

void
harness_clock_set(uint64_t ms)
{
    assert_true(ms > 0);
    atomic_store(&now__fake_ms, ms);
}

uint64_t
harness_clock_advance(uint64_t ms)
{
    uint64_t t = atomic_load(&now__fake_ms);
    assert_true(t > 0);
    atomic_store(&now__fake_ms, t + ms);
    return t + ms;
}

void
harness_clock_real(void)
{
    atomic_store(&now__fake_ms, 0);
}

/* ---- split feeder ---- */

#define FEED_RESULT_BYTES 8192
#define FEED_MAX_THREE 600

/* Feed <in> cut at <cuts> (ascending, inside (0, len)) and write the consumer's result. */
static void
feed_cut(const struct harness_feeder *f, void *ctx, const char *in, size_t len, const size_t *cuts,
         size_t n_cuts, char *out)
{
    f->reset(ctx);
    size_t pos = 0;
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t end = i < n_cuts ? cuts[i] : len;
        const char *piece = guard_copy(&feed_guard, in + pos, end - pos);
        int stop = f->feed(ctx, piece, end - pos);
        pos = end;
        if (stop) break;
    }
    out[0] = '\0';
    f->result(ctx, out, FEED_RESULT_BYTES);
}

size_t
harness_split_feed(const struct harness_feeder *f, void *ctx, const void *in, size_t len,
                   char *whole, size_t cap)
{
    static char want[FEED_RESULT_BYTES], got[FEED_RESULT_BYTES];
    feed_cut(f, ctx, in, len, NULL, 0, want);
    if (whole) snprintf(whole, cap, "%s", want);
    size_t runs = 1;
    for (size_t i = 1; i < len; i++) {
        size_t cut[2] = {i, 0};
        feed_cut(f, ctx, in, len, cut, 1, got);
        runs++;
        if (strcmp(want, got))
            fail_msg("split at %zu of %zu: got\n  %s\nwhole input gave\n  %s", i, len, got, want);
    }
    if (len > FEED_MAX_THREE) return runs;
    for (size_t i = 1; i < len; i++) {
        for (size_t j = i + 1; j < len; j++) {
            size_t cut[2] = {i, j};
            feed_cut(f, ctx, in, len, cut, 2, got);
            runs++;
            if (strcmp(want, got))
                fail_msg("split at %zu and %zu of %zu: got\n  %s\nwhole input gave\n  %s", i, j,
                         len, got, want);
        }
    }
    return runs;
}

/* ---- allocation-failure injection ---- */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);

static atomic_bool alloc_armed;
static atomic_size_t alloc_count, alloc_failed, alloc_fail_index;

/* Whether this allocation is the one to fail. Counted atomically: workers allocate too. */
static bool
alloc_inject(void)
{
    size_t k = atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
    if (!atomic_load_explicit(&alloc_armed, memory_order_relaxed)) return false;
    if (k != atomic_load_explicit(&alloc_fail_index, memory_order_relaxed)) return false;
    atomic_fetch_add(&alloc_failed, 1);
    return true;
}

void *
__wrap_malloc(size_t size)
{
    return alloc_inject() ? NULL : __real_malloc(size);
}

void *
__wrap_calloc(size_t n, size_t size)
{
    return alloc_inject() ? NULL : __real_calloc(n, size);
}

void *
__wrap_realloc(void *p, size_t size)
{
    return alloc_inject() ? NULL : __real_realloc(p, size);
}

void
harness_alloc_fail_at(size_t n)
{
    atomic_store(&alloc_armed, false);
    atomic_store(&alloc_count, 0);
    atomic_store(&alloc_failed, 0);
    atomic_store(&alloc_fail_index, n);
    atomic_store(&alloc_armed, true);
}

size_t
harness_alloc_fail_off(void)
{
    atomic_store(&alloc_armed, false);
    atomic_store(&alloc_count, 0);
    return atomic_exchange(&alloc_failed, 0);
}

size_t
harness_alloc_count(void)
{
    return atomic_load(&alloc_count);
}

size_t
harness_alloc_sweep(void (*fn)(void *arg), void *arg, size_t max_runs)
{
    for (size_t k = 0; k < max_runs; k++) {
        harness_alloc_fail_at(k);
        fn(arg);
        if (!harness_alloc_fail_off()) return k;
    }
    fail_msg("still failing an allocation after %zu runs", max_runs);
    return max_runs;
}

struct snapshot *
harness_snapshot(const char *const *paths, size_t n, const struct model_options *opt)
{
    struct resource_set set;
    struct diag_list dl;
    config_init(&set);
    diag_list_init(&dl);
    if (config_load(&set, paths, n, NULL, &dl) || dl.errors) {
        struct strbuf sb;
        strbuf_init(&sb, 1 << 16);
        diag_list_format(&dl, false, &sb);
        fail_msg("config does not load:\n%s", strbuf_str(&sb));
    }
    char err[256];
    struct snapshot *s = model_build(&set, opt, err, sizeof(err));
    diag_list_fini(&dl);
    config_fini(&set);
    if (!s) fail_msg("build failed: %s", err);
    return s;
}
