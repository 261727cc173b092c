/* SPDX-License-Identifier: Apache-2.0 */
/* An idle keep-alive connection must stay small (the budget: 512 bytes): buffers
 * and the exchange are released between requests, so only struct h1_conn remains. */
#include <stdlib.h>

#include "harness.h"
#include "http/h1_int.h"

static void
test_idle_connection_fits_the_memory_budget(void **state)
{
    (void)state;
    /* malloc adds up to 16 bytes of header and rounds to 16. */
    size_t allocated = (sizeof(struct h1_conn) + 16 + 15) / 16 * 16;
    assert_true(allocated <= 512);
}

static void
test_buffers_hold_no_storage_until_used(void **state)
{
    (void)state;
    struct buf b;
    buf_init_empty(&b, 1 << 20);
    assert_null(b.data);
    assert_int_equal(buf_append(&b, "abc", 3), 0);
    assert_non_null(b.data);
    buf_consume(&b, 3);
    size_t size;
    void *p = buf_detach(&b, &size);
    assert_non_null(p);
    assert_null(b.data);
    free(p);
    buf_fini(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_connection_fits_the_memory_budget),
        cmocka_unit_test(test_buffers_hold_no_storage_until_used),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
