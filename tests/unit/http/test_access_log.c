/* SPDX-License-Identifier: Apache-2.0 */
/* A TCP connection's access log line, JSON and text: Envoy's fields for a connection (no
 * method, code 0), bytes each way, the upstream, the addresses and the server name; a
 * hostile server name cannot break the text line. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "http/access_log.h"

static void
addr(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    inet_pton(AF_INET, ip, &in->sin_addr);
}

/* Log <e> in <fmt> to a fresh file; its text (malloc'd). */
static char *
log_one(enum access_log_format fmt, const struct tcp_log_entry *e)
{
    char path[] = "/tmp/meshlet-alog-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char err[128];
    struct access_log *log = access_log_open(path, fmt, err, sizeof(err));
    assert_non_null(log);
    struct access_log_buf b = {.log = log};
    access_log_tcp(&b, e);
    access_log_flush(&b);
    access_log_close(log);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *text = calloc(1, 8192);
    size_t n = fread(text, 1, 8191, f);
    fclose(f);
    unlink(path);
    text[n] = '\0';
    return text;
}

static const char *keys[] = {"version"}, *vals[] = {"v2"};
static struct model_endpoint ep = {
    .address = "127.0.0.1", .port = 9001, .label_keys = keys, .label_vals = vals, .n_labels = 1};
static struct model_cluster cl = {
    .name = "outbound|9000|v2|echo.demo.svc.cluster.local", .n_endpoints = 1, .endpoints = &ep};

static void
entry(struct tcp_log_entry *e, struct sockaddr_storage *local, struct sockaddr_storage *remote)
{
    addr(local, "127.0.0.1", 9000);
    addr(remote, "127.0.0.1", 40000);
    *e = (struct tcp_log_entry){.start_wall_ms = 1765000000123ull,
                                .duration_us = 2500000,
                                .cluster = &cl,
                                .endpoint = 0,
                                .bytes_received = 11,
                                .bytes_sent = 2222,
                                .local = local,
                                .remote = remote,
                                .sni = "echo.example.com",
                                .route_name = "tcp-split",
                                .attempts = 2};
}

static void
test_json_line(void **state)
{
    (void)state;
    struct sockaddr_storage local, remote;
    struct tcp_log_entry e;
    entry(&e, &local, &remote);
    char *text = log_one(ACCESS_LOG_JSON, &e);
    assert_non_null(strstr(text, "\"start_time\":\"2025-12-06T05:46:40.123Z\""));
    assert_non_null(strstr(text, "\"method\":null,\"path\":null,\"protocol\":null"));
    assert_non_null(strstr(text, "\"response_code\":0,\"response_flags\":\"-\""));
    assert_non_null(strstr(text, "\"bytes_received\":11,\"bytes_sent\":2222,\"duration\":2500"));
    assert_non_null(strstr(text, "\"upstream_host\":\"127.0.0.1:9001\""));
    assert_non_null(
        strstr(text, "\"upstream_cluster\":\"outbound|9000|v2|echo.demo.svc.cluster.local\""));
    assert_non_null(strstr(text, "\"route_name\":\"tcp-split\""));
    assert_non_null(strstr(text, "\"upstream_request_attempt_count\":2"));
    assert_non_null(strstr(text, "\"downstream_remote_address\":\"127.0.0.1:40000\""));
    assert_non_null(strstr(text, "\"downstream_local_address\":\"127.0.0.1:9000\""));
    assert_non_null(strstr(text, "\"requested_server_name\":\"echo.example.com\"}\n"));
    free(text);
}

static void
test_text_line_no_upstream(void **state)
{
    (void)state;
    struct sockaddr_storage local, remote;
    struct tcp_log_entry e;
    entry(&e, &local, &remote);
    e.cluster = NULL;
    e.endpoint = SIZE_MAX;
    e.flags = RF_NR;
    e.sni = NULL;
    e.route_name = NULL;
    e.bytes_sent = 0;
    e.attempts = 0;
    char *text = log_one(ACCESS_LOG_TEXT, &e);
    assert_string_equal(text, "[2025-12-06T05:46:40.123Z] \"- - -\" 0 NR 11 0 2500 - \"-\" \"-\" "
                              "\"-\" \"-\" \"-\" - 127.0.0.1:40000 - 0 127.0.0.1:9000 -\n");
    free(text);
}

static void
test_text_line_hostile_sni(void **state)
{
    (void)state;
    struct sockaddr_storage local, remote;
    struct tcp_log_entry e;
    entry(&e, &local, &remote);
    e.flags = RF_UF;
    e.sni = "a b\"\n.example";
    char *text = log_one(ACCESS_LOG_TEXT, &e);
    assert_non_null(strstr(text, "\"- - -\" 0 UF 11 2222 2500 - "));
    assert_non_null(strstr(text, "\"127.0.0.1:9001\" outbound|9000|v2|echo.demo.svc.cluster.local "
                                 "127.0.0.1:40000 tcp-split 2 127.0.0.1:9000 a?b??.example\n"));
    assert_int_equal(strchr(text, '\n') - text + 1, (long)strlen(text)); /* one line */
    free(text);
}

static void
test_logging_off(void **state)
{
    (void)state;
    struct access_log_buf b = {0};
    struct tcp_log_entry e = {.endpoint = SIZE_MAX};
    access_log_tcp(&b, &e);
    assert_null(b.data);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_line),
        cmocka_unit_test(test_text_line_no_upstream),
        cmocka_unit_test(test_text_line_hostile_sni),
        cmocka_unit_test(test_logging_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
