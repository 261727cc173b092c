/* SPDX-License-Identifier: Apache-2.0 */
/* gRPC message counting: whole, split at every byte boundary, zero-length and compressed
 * messages, a 4 GiB length, a message cut short, and a stream that is not gRPC framed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "http/grpc_frames.h"

/* Append one message (flags, big-endian length, <len> payload bytes of 'x') at <p>. */
static size_t
message(char *p, unsigned flags, uint32_t len)
{
    p[0] = (char)flags;
    p[1] = (char)(len >> 24);
    p[2] = (char)(len >> 16);
    p[3] = (char)(len >> 8);
    p[4] = (char)len;
    memset(p + 5, 'x', len);
    return 5 + (size_t)len;
}

static void
reset(void *ctx)
{
    memset(ctx, 0, sizeof(struct grpc_frames));
}

static int
feed(void *ctx, const char *piece, size_t len)
{
    grpc_frames_feed(ctx, piece, len);
    return 0;
}

static void
result(void *ctx, char *out, size_t cap)
{
    const struct grpc_frames *f = ctx;
    snprintf(out, cap, "messages=%llu at=%u skip=%llu broken=%d", (unsigned long long)f->messages,
             f->at, (unsigned long long)f->skip, f->broken);
}

static const struct harness_feeder feeder = {reset, feed, result};

static void
test_grpc_frames_counts_one_message_at_any_split(void **state)
{
    (void)state;
    char in[64];
    size_t n = message(in, 0, 12);
    struct grpc_frames f;
    char whole[128];
    assert_true(harness_split_feed(&feeder, &f, in, n, whole, sizeof(whole)) > 1);
    assert_string_equal(whole, "messages=1 at=0 skip=0 broken=0");
}

static void
test_grpc_frames_counts_zero_length_and_compressed_messages(void **state)
{
    (void)state;
    char in[256];
    size_t n = 0;
    n += message(in + n, 0, 0); /* an empty message is its prefix alone */
    n += message(in + n, 1, 7); /* compressed */
    n += message(in + n, 0, 0);
    n += message(in + n, 0, 100);
    n += message(in + n, 1, 0);
    struct grpc_frames f;
    char whole[128];
    harness_split_feed(&feeder, &f, in, n, whole, sizeof(whole));
    assert_string_equal(whole, "messages=5 at=0 skip=0 broken=0");
}

/* Byte by byte, a message counts when its flags byte arrives (Envoy's FrameInspector). */
static void
test_grpc_frames_counts_a_message_at_its_first_byte(void **state)
{
    (void)state;
    char in[64];
    size_t n = 0;
    size_t starts[3];
    starts[0] = n;
    n += message(in + n, 0, 3);
    starts[1] = n;
    n += message(in + n, 0, 0);
    starts[2] = n;
    n += message(in + n, 0, 2);
    struct grpc_frames f = {0};
    uint64_t expect = 0;
    for (size_t i = 0; i < n; i++) {
        if (expect < 3 && i == starts[expect]) expect++;
        grpc_frames_feed(&f, in + i, 1);
        assert_int_equal(f.messages, expect);
    }
    /* a message cut short still counts once: nothing more comes for it */
    struct grpc_frames cut = {0};
    grpc_frames_feed(&cut, in, 4);
    assert_int_equal(cut.messages, 1);
}

/* The largest length gRPC's prefix can carry is skipped by counting, not by storing. */
static void
test_grpc_frames_skips_a_4gib_payload(void **state)
{
    (void)state;
    char prefix[5] = {0, (char)0xff, (char)0xff, (char)0xff, (char)0xff};
    struct grpc_frames f = {0};
    grpc_frames_feed(&f, prefix, sizeof(prefix));
    assert_int_equal(f.messages, 1);
    assert_int_equal(f.skip, 0xffffffffu);
    size_t chunk = 1 << 20;
    char *zeros = calloc(1, chunk);
    assert_non_null(zeros);
    uint64_t left = 0xffffffffull;
    while (left > chunk) { /* payload bytes of zero would be flags bytes if miscounted */
        grpc_frames_feed(&f, zeros, chunk);
        left -= chunk;
    }
    grpc_frames_feed(&f, zeros, (size_t)left);
    assert_int_equal(f.messages, 1);
    assert_int_equal(f.skip, 0);
    char next[16];
    size_t n = message(next, 0, 1);
    grpc_frames_feed(&f, next, n);
    assert_int_equal(f.messages, 2);
    /* the payload and the next prefix in one chunk */
    struct grpc_frames g = {0};
    char in[64];
    n = message(in, 0, 20);
    n += message(in + n, 0, 1);
    grpc_frames_feed(&g, in, 3);
    grpc_frames_feed(&g, in + 3, n - 3);
    assert_int_equal(g.messages, 2);
    free(zeros);
}

/* Unknown flags mean the body is not gRPC framed: Envoy stops counting there. */
static void
test_grpc_frames_stops_at_unknown_flags(void **state)
{
    (void)state;
    char in[64];
    size_t n = message(in, 0, 2);
    n += message(in + n, 0x80, 2);
    n += message(in + n, 0, 2);
    struct grpc_frames f;
    char whole[128];
    harness_split_feed(&feeder, &f, in, n, whole, sizeof(whole));
    assert_string_equal(whole, "messages=1 at=0 skip=0 broken=1");
    struct grpc_frames text = {0};
    grpc_frames_feed(&text, "GET / HTTP/1.1\r\n", 16);
    assert_int_equal(text.messages, 0);
    assert_true(text.broken);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grpc_frames_counts_one_message_at_any_split),
        cmocka_unit_test(test_grpc_frames_counts_zero_length_and_compressed_messages),
        cmocka_unit_test(test_grpc_frames_counts_a_message_at_its_first_byte),
        cmocka_unit_test(test_grpc_frames_skips_a_4gib_payload),
        cmocka_unit_test(test_grpc_frames_stops_at_unknown_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
