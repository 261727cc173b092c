/* SPDX-License-Identifier: Apache-2.0 */
/* When a client connection's timeouts are due (Envoy's idle_timeout, request_headers_timeout,
 * stream_idle_timeout), with a fake clock: which one, never early, and a timer that never
 * sleeps past a deadline that may start while it sleeps. */
#include <string.h>

#include "harness.h"
#include "http/h1_int.h"

static struct proxy_options
limits(uint64_t headers_ms, uint64_t stream_ms, uint64_t idle_ms)
{
    struct proxy_options o;
    memset(&o, 0, sizeof(o));
    o.request_headers_timeout_ms = headers_ms;
    o.stream_idle_timeout_ms = stream_ms;
    o.idle_timeout_ms = idle_ms;
    return o;
}

static void
test_idle_connection_closes_after_idle_timeout_only(void **state)
{
    (void)state;
    struct proxy_options o = limits(10000, 300000, 3600000);
    struct h1_timing k = {.stream = false, .active_ms = 1000};
    uint64_t next = 0;
    assert_int_equal(h1_timeout_check(&o, &k, 1000, &next), H1_TIMEOUT_NONE);
    assert_int_equal(next, 11000); /* looks again after the shortest timeout */
    assert_int_equal(h1_timeout_check(&o, &k, 3600999, &next), H1_TIMEOUT_NONE);
    assert_int_equal(next, 3601000); /* the deadline itself when it is nearer */
    assert_int_equal(h1_timeout_check(&o, &k, 3601000, &next), H1_TIMEOUT_IDLE);
}

static void
test_head_times_out_from_its_first_byte_however_it_trickles(void **state)
{
    (void)state;
    struct proxy_options o = limits(10000, 300000, 3600000);
    struct h1_timing k = {.stream = true, .head = true, .head_ms = 5000, .active_ms = 14999};
    uint64_t next = 0;
    assert_int_equal(h1_timeout_check(&o, &k, 14999, &next), H1_TIMEOUT_NONE);
    assert_int_equal(next, 15000);
    assert_int_equal(h1_timeout_check(&o, &k, 15000, &next), H1_TIMEOUT_HEADERS);
}

static void
test_stream_idle_counts_from_the_last_byte(void **state)
{
    (void)state;
    struct proxy_options o = limits(0, 2000, 3600000);
    struct h1_timing k = {.stream = true, .head = true, .head_ms = 0, .active_ms = 7000};
    uint64_t next = 0;
    assert_int_equal(h1_timeout_check(&o, &k, 8999, &next), H1_TIMEOUT_NONE);
    assert_int_equal(next, 9000);
    assert_int_equal(h1_timeout_check(&o, &k, 9000, &next), H1_TIMEOUT_STREAM);
    k.head = false; /* a whole request waiting on its response: the same */
    assert_int_equal(h1_timeout_check(&o, &k, 9000, &next), H1_TIMEOUT_STREAM);
    k.stream = false; /* between requests only the idle timeout counts */
    assert_int_equal(h1_timeout_check(&o, &k, 9000, &next), H1_TIMEOUT_NONE);
}

static void
test_a_deadline_begun_while_asleep_is_never_missed(void **state)
{
    (void)state;
    /* Idle, the timer sleeps at most the shortest timeout: a head starting at any moment
     * after <now> has its deadline no earlier than the timer's next look. */
    struct proxy_options o = limits(1000, 300000, 3600000);
    struct h1_timing k = {.stream = false, .active_ms = 0};
    uint64_t next = 0;
    assert_int_equal(h1_timeout_check(&o, &k, 500, &next), H1_TIMEOUT_NONE);
    for (uint64_t start = 500; start < next; start += 100)
        assert_true(start + o.request_headers_timeout_ms >= next);
}

static void
test_every_timeout_off_means_no_timer(void **state)
{
    (void)state;
    struct proxy_options o = limits(0, 0, 0);
    struct h1_timing k = {.stream = true, .head = true};
    uint64_t next = 1;
    assert_int_equal(h1_timeout_check(&o, &k, UINT64_MAX / 2, &next), H1_TIMEOUT_NONE);
    assert_int_equal(next, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_connection_closes_after_idle_timeout_only),
        cmocka_unit_test(test_head_times_out_from_its_first_byte_however_it_trickles),
        cmocka_unit_test(test_stream_idle_counts_from_the_last_byte),
        cmocka_unit_test(test_a_deadline_begun_while_asleep_is_never_missed),
        cmocka_unit_test(test_every_timeout_off_means_no_timer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
