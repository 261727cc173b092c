/* SPDX-License-Identifier: Apache-2.0 */
/* The harness itself: a read one byte past a guarded copy crashes; the fake clock is what
 * now_ms() returns until it is given back; the split feeder feeds every two- and
 * three-piece cut, each piece as a guarded copy; allocation failures hit exactly the
 * allocation asked for. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/now.h"
#include "harness.h"

static void
test_reading_past_a_guarded_copy_crashes(void **state)
{
    (void)state;
    const char *g = harness_guarded("abc", 3);
    assert_memory_equal(g, "abc", 3);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL); /* not cmocka's handler, which would go on testing */
        volatile char c = g[3];   /* the first byte of the PROT_NONE page */
        (void)c;
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    /* Killed by SIGSEGV, or (under a sanitizer, which catches it) a failing exit. */
    assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void
test_fake_clock_drives_now_ms(void **state)
{
    (void)state;
    uint64_t real = now_ms();
    harness_clock_set(42);
    assert_int_equal(now_ms(), 42);
    assert_int_equal(harness_clock_advance(8), 50);
    assert_int_equal(now_ms(), 50);
    harness_clock_real();
    assert_true(now_ms() >= real); /* the monotonic clock again */
}

struct counter {
    size_t feeds, bytes;
    char seen[64];
};

static void
count_reset(void *ctx)
{
    struct counter *c = ctx;
    c->feeds = c->bytes = 0;
}

static int
count_feed(void *ctx, const char *piece, size_t len)
{
    struct counter *c = ctx;
    memcpy(c->seen + c->bytes, piece, len); /* a guarded copy: reading it is fine */
    c->feeds++;
    c->bytes += len;
    return 0;
}

static void
count_result(void *ctx, char *out, size_t cap)
{
    struct counter *c = ctx;
    snprintf(out, cap, "%.*s", (int)c->bytes, c->seen);
}

static void
test_split_feeder_feeds_every_cut(void **state)
{
    (void)state;
    static const struct harness_feeder f = {count_reset, count_feed, count_result};
    struct counter c;
    char whole[64];
    size_t runs = harness_split_feed(&f, &c, "0123456789", 10, whole, sizeof(whole));
    /* Whole, nine two-piece cuts, 9 * 8 / 2 three-piece cuts. */
    assert_int_equal(runs, 1 + 9 + 36);
    assert_string_equal(whole, "0123456789");
    assert_int_equal(c.feeds, 3); /* the last run was a three-piece one */
}

static void
test_alloc_failure_hits_the_chosen_allocation(void **state)
{
    (void)state;
    harness_alloc_fail_at(1);
    void *a = malloc(8);
    void *b = malloc(8);
    void *c = calloc(1, 8);
    assert_non_null(a);
    assert_null(b);
    assert_non_null(c);
    assert_int_equal(harness_alloc_count(), 3);
    assert_int_equal(harness_alloc_fail_off(), 1);
    void *d = realloc(a, 64); /* off again: nothing fails */
    assert_non_null(d);
    free(d);
    free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reading_past_a_guarded_copy_crashes),
        cmocka_unit_test(test_fake_clock_drives_now_ms),
        cmocka_unit_test(test_split_feeder_feeds_every_cut),
        cmocka_unit_test(test_alloc_failure_hits_the_chosen_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
