/* SPDX-License-Identifier: Apache-2.0 */
/* An idle keep-alive connection must stay small (issue 13's budget: 256 bytes): buffers
 * and the exchange are released between requests, so only struct h1_conn remains. A
 * request's fixed state stays under 1 KiB (headers live in the receive buffer, parsed into
 * the worker's scratch). Reads go on to the end of stream once the peer's FIN is known to
 * be there. */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "http/h1_int.h"

static void
test_idle_connection_fits_the_memory_budget(void **state)
{
    (void)state;
    /* malloc adds up to 16 bytes of header and rounds to 16. */
    assert_true(sizeof(struct h1_conn) <= 256);
    size_t allocated = (sizeof(struct h1_conn) + 16 + 15) / 16 * 16;
    assert_true(allocated <= 512);
}

static void
test_request_state_fits_one_kib(void **state)
{
    (void)state;
    assert_true(sizeof(struct req) <= 1024);
    assert_true(sizeof(struct h1_exchange) <= 1024);
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

/* A short read says the socket is drained, except after LOOP_RDHUP (<hup>): the FIN that
 * came with the last bytes is still to be read, and no edge will say so again. */
static void
test_hup_keeps_reading_after_a_short_read(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    assert_int_equal(write(sv[1], "last", 4), 4);
    assert_int_equal(shutdown(sv[1], SHUT_WR), 0);
    struct buf b;
    buf_init_empty(&b, 1 << 16);
    bool ready = true, eof = false;
    assert_int_equal(h1_read_some(&b, sv[0], &sock_xprt, NULL, true, &ready, &eof), 1);
    assert_int_equal(buf_len(&b), 4);
    assert_true(ready && !eof); /* read on */
    assert_int_equal(h1_read_some(&b, sv[0], &sock_xprt, NULL, true, &ready, &eof), 1);
    assert_true(eof && !ready);
    buf_fini(&b);
    close(sv[0]);
    close(sv[1]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_connection_fits_the_memory_budget),
        cmocka_unit_test(test_request_state_fits_one_kib),
        cmocka_unit_test(test_buffers_hold_no_storage_until_used),
        cmocka_unit_test(test_hup_keeps_reading_after_a_short_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
