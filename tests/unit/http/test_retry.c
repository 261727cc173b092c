/* SPDX-License-Identifier: Apache-2.0 */
/* The retry policy's decisions (spec §3.8): which outcomes each retryOn condition retries,
 * and Envoy's back-off windows 25, 75, 175 ms ... capped at 250 ms for the 25 ms base. */
#include "harness.h"
#include "http/retry.h"

/* HTTP/2 and gRPC conditions: refused-stream for refused streams (reset covers them too),
 * the gRPC names for the grpc-status of a trailers-only response. */
static void
test_retry_on_http2_and_grpc_conditions(void **state)
{
    (void)state;
    struct model_route r = {.retry_on = MODEL_RETRY_REFUSED_STREAM};
    assert_true(retry_on_outcome(&r, RETRY_REFUSED, 0));
    assert_false(retry_on_outcome(&r, RETRY_RESET, 0));
    r.retry_on = MODEL_RETRY_RESET;
    assert_true(retry_on_outcome(&r, RETRY_REFUSED, 0));
    assert_false(retry_on_outcome(&r, RETRY_GRPC, 14));
    r.retry_on = MODEL_RETRY_GRPC_UNAVAILABLE | MODEL_RETRY_GRPC_CANCELLED;
    assert_true(retry_on_outcome(&r, RETRY_GRPC, 14));
    assert_true(retry_on_outcome(&r, RETRY_GRPC, 1));
    assert_false(retry_on_outcome(&r, RETRY_GRPC, 4));
    assert_false(retry_on_outcome(&r, RETRY_GRPC, 13));
    assert_false(retry_on_outcome(&r, RETRY_REFUSED, 0));
    r.retry_on = MODEL_RETRY_GRPC_DEADLINE_EXCEEDED | MODEL_RETRY_GRPC_INTERNAL |
                 MODEL_RETRY_GRPC_RESOURCE_EXHAUSTED;
    assert_true(retry_on_grpc(&r, 4) && retry_on_grpc(&r, 13) && retry_on_grpc(&r, 8));
    assert_false(retry_on_grpc(&r, 0) || retry_on_grpc(&r, 14) || retry_on_grpc(&r, 2));
}

static void
test_retry_on_conditions(void **state)
{
    (void)state;
    struct model_route r = {.retry_on = MODEL_RETRY_CONNECT_FAILURE};
    assert_true(retry_on_outcome(&r, RETRY_CONNECT_FAILURE, 0));
    assert_false(retry_on_outcome(&r, RETRY_RESET, 0));
    assert_false(retry_on_outcome(&r, RETRY_RESPONSE, 503));

    r.retry_on = MODEL_RETRY_RESET;
    assert_true(retry_on_outcome(&r, RETRY_CONNECT_FAILURE, 0));
    assert_true(retry_on_outcome(&r, RETRY_RESET, 0));
    assert_false(retry_on_outcome(&r, RETRY_RESPONSE, 500));

    r.retry_on = MODEL_RETRY_5XX;
    assert_true(retry_on_outcome(&r, RETRY_RESET, 0));
    assert_true(retry_on_outcome(&r, RETRY_RESPONSE, 500));
    assert_true(retry_on_outcome(&r, RETRY_RESPONSE, 599));
    assert_false(retry_on_outcome(&r, RETRY_RESPONSE, 409));

    r.retry_on = MODEL_RETRY_GATEWAY_ERROR;
    assert_false(retry_on_outcome(&r, RETRY_RESPONSE, 500));
    assert_true(retry_on_outcome(&r, RETRY_RESPONSE, 502));
    assert_true(retry_on_outcome(&r, RETRY_RESPONSE, 504));
    assert_false(retry_on_outcome(&r, RETRY_RESPONSE, 505));

    r.retry_on = MODEL_RETRY_RETRIABLE_4XX;
    assert_true(retry_on_outcome(&r, RETRY_RESPONSE, 409));
    assert_false(retry_on_outcome(&r, RETRY_RESPONSE, 404));
    assert_false(retry_on_outcome(&r, RETRY_CONNECT_FAILURE, 0));

    r.retry_on = MODEL_RETRY_STATUS_CODES;
    r.retry_codes[0] = 503;
    r.retry_codes[1] = 429;
    r.n_retry_codes = 2;
    assert_true(retry_on_outcome(&r, RETRY_RESPONSE, 429));
    assert_true(retry_on_outcome(&r, RETRY_RESPONSE, 503));
    assert_false(retry_on_outcome(&r, RETRY_RESPONSE, 502));
    /* A local 503 after a reset is not the status 503: only `reset` retries it. */
    assert_false(retry_on_outcome(&r, RETRY_RESET, 0));
}

static void
test_retry_backoff_windows(void **state)
{
    (void)state;
    assert_int_equal(retry_backoff_window_ms(25, 1), 25);
    assert_int_equal(retry_backoff_window_ms(25, 2), 75);
    assert_int_equal(retry_backoff_window_ms(25, 3), 175);
    assert_int_equal(retry_backoff_window_ms(25, 4), 250);
    assert_int_equal(retry_backoff_window_ms(25, 40), 250);
    assert_int_equal(retry_backoff_window_ms(100, 2), 300);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_on_conditions),
        cmocka_unit_test(test_retry_on_http2_and_grpc_conditions),
        cmocka_unit_test(test_retry_backoff_windows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
