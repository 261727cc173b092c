/* SPDX-License-Identifier: Apache-2.0 */
/* The ClientHello's server name for TLS passthrough, on real hellos made by OpenSSL's
 * client into a memory BIO: a whole hello, every shorter prefix (wait for more), the same
 * hello cut into two records, no SNI at all, upper case folded, a name longer than the
 * caller's room, a hello that lies about its length, and bytes that are not TLS. */
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <string.h>

#include "harness.h"
#include "tls/client_hello.h"

/* The first flight of an OpenSSL client asking for <sni> (NULL: none) into <out>. */
static size_t
hello(const char *sni, uint8_t *out, size_t cap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    SSL *ssl = SSL_new(ctx);
    BIO *rd = BIO_new(BIO_s_mem()), *wr = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, rd, wr);
    if (sni) SSL_set_tlsext_host_name(ssl, sni);
    SSL_set_connect_state(ssl);
    assert_true(SSL_do_handshake(ssl) <= 0); /* waits for the server */
    int n = BIO_read(wr, out, (int)cap);
    assert_true(n > 0);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return (size_t)n;
}

static void
test_whole_hello_gives_its_name(void **state)
{
    (void)state;
    uint8_t b[4096];
    char sni[256];
    size_t n = hello("db.example.com", b, sizeof(b));
    assert_int_equal(client_hello_sni(b, n, sni, sizeof(sni)), CLIENT_HELLO_DONE);
    assert_string_equal(sni, "db.example.com");
}

static void
test_every_prefix_asks_for_more(void **state)
{
    (void)state;
    uint8_t b[4096];
    char sni[256];
    size_t n = hello("db.example.com", b, sizeof(b));
    for (size_t k = 0; k < n; k++)
        assert_int_equal(client_hello_sni(b, k, sni, sizeof(sni)), CLIENT_HELLO_MORE);
}

static void
test_hello_over_two_records(void **state)
{
    (void)state;
    uint8_t b[4096], two[4200];
    char sni[256];
    size_t n = hello("split.example.com", b, sizeof(b));
    size_t body = n - 5, first = body / 3;
    /* record 1: the first third of the handshake; record 2: the rest */
    memcpy(two, b, 5);
    two[3] = (uint8_t)(first >> 8);
    two[4] = (uint8_t)first;
    memcpy(two + 5, b + 5, first);
    memcpy(two + 5 + first, b, 5);
    two[5 + first + 3] = (uint8_t)((body - first) >> 8);
    two[5 + first + 4] = (uint8_t)(body - first);
    memcpy(two + 10 + first, b + 5 + first, body - first);
    size_t total = n + 5;
    assert_int_equal(client_hello_sni(two, 5 + first, sni, sizeof(sni)), CLIENT_HELLO_MORE);
    assert_int_equal(client_hello_sni(two, total, sni, sizeof(sni)), CLIENT_HELLO_DONE);
    assert_string_equal(sni, "split.example.com");
}

static void
test_no_sni_and_upper_case(void **state)
{
    (void)state;
    uint8_t b[4096];
    char sni[256];
    size_t n = hello(NULL, b, sizeof(b));
    assert_int_equal(client_hello_sni(b, n, sni, sizeof(sni)), CLIENT_HELLO_DONE);
    assert_string_equal(sni, "");
    n = hello("API.Example.COM", b, sizeof(b));
    assert_int_equal(client_hello_sni(b, n, sni, sizeof(sni)), CLIENT_HELLO_DONE);
    assert_string_equal(sni, "api.example.com");
}

static void
test_name_longer_than_room_and_lying_lengths(void **state)
{
    (void)state;
    uint8_t b[4096];
    char sni[8];
    size_t n = hello("much-too-long.example.com", b, sizeof(b));
    assert_int_equal(client_hello_sni(b, n, sni, sizeof(sni)), CLIENT_HELLO_NOT_TLS);
    char big[256];
    n = hello("db.example.com", b, sizeof(b));
    b[6] = 0xff; /* the handshake claims 16 MiB */
    assert_int_equal(client_hello_sni(b, n, big, sizeof(big)), CLIENT_HELLO_NOT_TLS);
}

static void
test_not_tls(void **state)
{
    (void)state;
    char sni[256];
    const char *get = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(client_hello_sni((const uint8_t *)get, strlen(get), sni, sizeof(sni)),
                     CLIENT_HELLO_NOT_TLS);
    const uint8_t alert[] = {21, 3, 3, 0, 2, 2, 40}; /* an alert record, not a handshake */
    assert_int_equal(client_hello_sni(alert, sizeof(alert), sni, sizeof(sni)),
                     CLIENT_HELLO_NOT_TLS);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_hello_gives_its_name),
        cmocka_unit_test(test_every_prefix_asks_for_more),
        cmocka_unit_test(test_hello_over_two_records),
        cmocka_unit_test(test_no_sni_and_upper_case),
        cmocka_unit_test(test_name_longer_than_room_and_lying_lengths),
        cmocka_unit_test(test_not_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
