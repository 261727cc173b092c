/* SPDX-License-Identifier: Apache-2.0 */
/* Connection buffers: bytes [rd, wr) stay pending and in order through appends, consumes,
 * compaction and growth; rd <= wr <= cap <= max_bytes always; a full buffer refuses more
 * (-ENOBUFS) and keeps what it holds, as does one whose growth fails for lack of memory;
 * idle buffers hold no storage; reads and writes on a socket pair. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "harness.h"

static void
assert_invariants(const struct buf *b)
{
    assert_true(b->rd <= b->wr);
    assert_true(b->wr <= b->cap);
    assert_true(b->cap <= b->max_bytes);
}

/* The pending bytes are exactly <text>. */
static void
assert_pending(const struct buf *b, const char *text)
{
    assert_invariants(b);
    assert_int_equal(buf_len(b), strlen(text));
    assert_memory_equal(buf_head(b), text, strlen(text));
}

static void
test_buf_append_and_consume_keep_order(void **state)
{
    (void)state;
    struct buf b;
    assert_int_equal(buf_init(&b, 16, 64), 0);
    assert_true(buf_empty(&b));
    assert_int_equal(buf_append(&b, "hello ", 6), 0);
    assert_int_equal(buf_append(&b, "world", 5), 0);
    assert_pending(&b, "hello world");
    buf_consume(&b, 6);
    assert_pending(&b, "world");
    assert_int_equal(b.rd, 6);
    /* Consuming the last byte rewinds both ends: the next append starts at the front. */
    buf_consume(&b, 5);
    assert_true(buf_empty(&b));
    assert_int_equal(b.rd, 0);
    assert_int_equal(b.wr, 0);
    buf_fini(&b);
    assert_null(b.data);
    buf_fini(&b); /* twice is a no-op */
}

static void
test_buf_compacts_before_it_grows(void **state)
{
    (void)state;
    struct buf b;
    assert_int_equal(buf_init(&b, 16, 64), 0);
    assert_int_equal(buf_append(&b, "0123456789abcdef", 16), 0); /* full at 16 */
    buf_consume(&b, 10);
    char *data = b.data;
    /* 6 pending + 8 new fit in 16 once the pending bytes move to the front. */
    assert_int_equal(buf_append(&b, "ghijklmn", 8), 0);
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.cap, 16);
    assert_int_equal(b.rd, 0);
    assert_pending(&b, "abcdefghijklmn");
    buf_fini(&b);
}

static void
test_buf_grows_by_doubling_up_to_the_cap(void **state)
{
    (void)state;
    struct buf b;
    assert_int_equal(buf_init(&b, 16, 100), 0);
    char chunk[100];
    memset(chunk, 'x', sizeof(chunk));
    assert_int_equal(buf_append(&b, chunk, 17), 0);
    assert_int_equal(b.cap, 32);
    assert_int_equal(buf_append(&b, chunk, 40), 0);
    assert_int_equal(b.cap, 64);
    /* Doubling would pass the cap: the buffer stops at it exactly. */
    assert_int_equal(buf_append(&b, chunk, 43), 0);
    assert_int_equal(b.cap, 100);
    assert_int_equal(buf_len(&b), 100);
    assert_invariants(&b);
    buf_fini(&b);
}

static void
test_full_buffer_refuses_and_keeps_its_bytes(void **state)
{
    (void)state;
    struct buf b;
    assert_int_equal(buf_init(&b, 8, 16), 0);
    assert_int_equal(buf_append(&b, "0123456789abcdef", 16), 0);
    assert_int_equal(buf_append(&b, "!", 1), -ENOBUFS);
    assert_int_equal(buf_reserve(&b, 1), -ENOBUFS);
    assert_pending(&b, "0123456789abcdef");
    /* Even after a consume, what does not fit beside the pending bytes is refused... */
    buf_consume(&b, 4);
    assert_int_equal(buf_append(&b, "ABCDE", 5), -ENOBUFS);
    assert_pending(&b, "456789abcdef");
    /* ...and what fits is taken, compacted in place. */
    assert_int_equal(buf_append(&b, "ABCD", 4), 0);
    assert_pending(&b, "456789abcdefABCD");
    /* A socket read into a full buffer reads nothing. */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    assert_int_equal(write(sv[1], "z", 1), 1);
    assert_int_equal(buf_read_fd(&b, sv[0]), -ENOBUFS);
    assert_pending(&b, "456789abcdefABCD");
    close(sv[0]);
    close(sv[1]);
    buf_fini(&b);
}

static void
test_buf_out_of_memory_keeps_the_buffer(void **state)
{
    (void)state;
    struct buf b;
    harness_alloc_fail_at(0);
    assert_int_equal(buf_init(&b, 16, 64), -ENOMEM);
    assert_int_equal(harness_alloc_fail_off(), 1);
    assert_int_equal(buf_init(&b, 16, 64), 0);
    assert_int_equal(buf_append(&b, "0123456789abcdef", 16), 0);
    harness_alloc_fail_at(0); /* the realloc that would grow it */
    assert_int_equal(buf_append(&b, "g", 1), -ENOBUFS);
    assert_int_equal(harness_alloc_fail_off(), 1);
    assert_pending(&b, "0123456789abcdef");
    assert_int_equal(b.cap, 16);
    assert_int_equal(buf_append(&b, "g", 1), 0);
    assert_pending(&b, "0123456789abcdefg");
    buf_fini(&b);
}

static void
test_idle_buffer_holds_no_storage(void **state)
{
    (void)state;
    struct buf b;
    buf_init_empty(&b, 1 << 20);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
    assert_true(buf_empty(&b));
    /* Given a block, it uses it, and gives it back once empty. */
    static char block[64];
    buf_attach(&b, block, sizeof(block));
    assert_int_equal(buf_append(&b, "abc", 3), 0);
    assert_ptr_equal(b.data, block);
    buf_consume(&b, 3);
    size_t size = 0;
    assert_ptr_equal(buf_detach(&b, &size), block);
    assert_int_equal(size, sizeof(block));
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
    /* Without a block, the first reserve takes 4 KiB from malloc (or less under the cap). */
    assert_int_equal(buf_reserve(&b, 1), 0);
    assert_int_equal(b.cap, 4096);
    buf_fini(&b);
    buf_init_empty(&b, 100);
    assert_int_equal(buf_append(&b, "x", 1), 0);
    assert_int_equal(b.cap, 100);
    buf_fini(&b);
}

static void
test_buf_reads_and_writes_a_socket(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct buf in, out;
    assert_int_equal(buf_init(&in, 16, 1 << 16), 0);
    assert_int_equal(buf_init(&out, 16, 1 << 16), 0);
    assert_int_equal(buf_read_fd(&in, sv[0]), -EAGAIN); /* nothing yet */
    assert_int_equal(buf_append(&out, "ping pong", 9), 0);
    assert_int_equal(buf_write_fd(&out, sv[1]), 9);
    assert_true(buf_empty(&out));
    /* A read makes room for 4 KiB first, so it takes all that is there at once. */
    assert_int_equal(buf_read_fd(&in, sv[0]), 9);
    assert_true(in.cap >= 4096);
    assert_pending(&in, "ping pong");
    shutdown(sv[1], SHUT_WR);
    assert_int_equal(buf_read_fd(&in, sv[0]), 0); /* EOF */
    assert_pending(&in, "ping pong");
    close(sv[0]);
    assert_int_equal(buf_append(&out, "late", 4), 0);
    assert_int_equal(buf_write_fd(&out, sv[1]), -EPIPE); /* MSG_NOSIGNAL: no SIGPIPE */
    assert_pending(&out, "late");
    close(sv[1]);
    buf_fini(&in);
    buf_fini(&out);
}

static void
test_buf_partial_write_leaves_the_rest_pending(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    int small = 4096;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    struct buf out;
    assert_int_equal(buf_init(&out, 1 << 20, 1 << 20), 0);
    static char big[1 << 20];
    for (size_t i = 0; i < sizeof(big); i++) big[i] = (char)('a' + i % 26);
    assert_int_equal(buf_append(&out, big, sizeof(big)), 0);
    ssize_t n = buf_write_fd(&out, sv[1]);
    assert_true(n > 0 && (size_t)n < sizeof(big));
    assert_int_equal(buf_write_fd(&out, sv[1]), -EAGAIN);
    /* What is left is the tail of the input, from the first byte not written. */
    assert_int_equal(buf_len(&out), sizeof(big) - (size_t)n);
    assert_memory_equal(buf_head(&out), big + n, buf_len(&out));
    close(sv[0]);
    close(sv[1]);
    buf_fini(&out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_append_and_consume_keep_order),
        cmocka_unit_test(test_buf_compacts_before_it_grows),
        cmocka_unit_test(test_buf_grows_by_doubling_up_to_the_cap),
        cmocka_unit_test(test_full_buffer_refuses_and_keeps_its_bytes),
        cmocka_unit_test(test_buf_out_of_memory_keeps_the_buffer),
        cmocka_unit_test(test_idle_buffer_holds_no_storage),
        cmocka_unit_test(test_buf_reads_and_writes_a_socket),
        cmocka_unit_test(test_buf_partial_write_leaves_the_rest_pending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
