/* SPDX-License-Identifier: Apache-2.0 */
/* Port protocols as Istio reads them: protocol.Parse for ServiceEntry ports, and
 * kube.ConvertProtocol (appProtocol, port name prefix, UDP, well-known ports) for Kubernetes
 * Service ports; the cases of Istio's own conversion_test.go. */
#include "config/port_protocol.h"
#include "harness.h"

static void
test_parse_is_case_insensitive_and_whole_name(void **state)
{
    (void)state;
    assert_int_equal(port_protocol_parse("grpc"), PORT_PROTOCOL_GRPC);
    assert_int_equal(port_protocol_parse("GRPC-Web"), PORT_PROTOCOL_GRPC_WEB);
    assert_int_equal(port_protocol_parse("grpc-web"), PORT_PROTOCOL_GRPC_WEB);
    assert_int_equal(port_protocol_parse("Http2"), PORT_PROTOCOL_HTTP2);
    assert_int_equal(port_protocol_parse("HTTP"), PORT_PROTOCOL_HTTP);
    assert_int_equal(port_protocol_parse("http_proxy"), PORT_PROTOCOL_HTTP_PROXY);
    assert_int_equal(port_protocol_parse("TCP"), PORT_PROTOCOL_TCP);
    assert_int_equal(port_protocol_parse("https"), PORT_PROTOCOL_HTTPS);
    /* a ServiceEntry's protocol is a whole name: no prefix rule there */
    assert_int_equal(port_protocol_parse("grpc-foo"), PORT_PROTOCOL_UNSUPPORTED);
    assert_int_equal(port_protocol_parse("h2c"), PORT_PROTOCOL_UNSUPPORTED);
    assert_int_equal(port_protocol_parse(""), PORT_PROTOCOL_UNSUPPORTED);
    assert_int_equal(port_protocol_parse(NULL), PORT_PROTOCOL_UNSUPPORTED);
}

static void
test_kube_port_name_prefix(void **state)
{
    (void)state;
    assert_int_equal(port_protocol_kube(80, "grpc-foo", false, NULL), PORT_PROTOCOL_GRPC);
    assert_int_equal(port_protocol_kube(80, "http2-x", false, NULL), PORT_PROTOCOL_HTTP2);
    assert_int_equal(port_protocol_kube(80, "grpc-web", false, NULL), PORT_PROTOCOL_GRPC_WEB);
    assert_int_equal(port_protocol_kube(80, "grpc-web-x", false, NULL), PORT_PROTOCOL_GRPC_WEB);
    assert_int_equal(port_protocol_kube(80, "GRPC", false, NULL), PORT_PROTOCOL_GRPC);
    assert_int_equal(port_protocol_kube(80, "http", false, NULL), PORT_PROTOCOL_HTTP);
    assert_int_equal(port_protocol_kube(80, "http-web", false, NULL), PORT_PROTOCOL_HTTP);
    assert_int_equal(port_protocol_kube(80, "httpx", false, NULL), PORT_PROTOCOL_UNSUPPORTED);
    assert_int_equal(port_protocol_kube(80, "", false, NULL), PORT_PROTOCOL_UNSUPPORTED);
    assert_int_equal(port_protocol_kube(80, NULL, false, NULL), PORT_PROTOCOL_UNSUPPORTED);
    assert_int_equal(port_protocol_kube(80, "grpc", true, NULL), PORT_PROTOCOL_UDP);
    /* well-known ports are TCP unless named */
    assert_int_equal(port_protocol_kube(3306, "db", false, NULL), PORT_PROTOCOL_TCP);
    assert_int_equal(port_protocol_kube(3306, "http", false, NULL), PORT_PROTOCOL_HTTP);
}

static void
test_kube_app_protocol_wins_over_the_name(void **state)
{
    (void)state;
    assert_int_equal(port_protocol_kube(80, "http", false, "grpc"), PORT_PROTOCOL_GRPC);
    assert_int_equal(port_protocol_kube(80, "grpc", false, "http"), PORT_PROTOCOL_HTTP);
    assert_int_equal(port_protocol_kube(80, "web", false, "kubernetes.io/h2c"),
                     PORT_PROTOCOL_HTTP2);
    assert_int_equal(port_protocol_kube(80, "grpc", false, "kubernetes.io/ws"), PORT_PROTOCOL_HTTP);
    assert_int_equal(port_protocol_kube(80, "http", false, "kubernetes.io/wss"),
                     PORT_PROTOCOL_HTTPS);
    assert_int_equal(port_protocol_kube(80, "http", false, "HTTP2"), PORT_PROTOCOL_HTTP2);
    assert_int_equal(port_protocol_kube(80, "http", false, "mystery"), PORT_PROTOCOL_UNSUPPORTED);
}

static void
test_http_and_http2_classes(void **state)
{
    (void)state;
    assert_true(port_protocol_is_http2(PORT_PROTOCOL_GRPC));
    assert_true(port_protocol_is_http2(PORT_PROTOCOL_GRPC_WEB));
    assert_true(port_protocol_is_http2(PORT_PROTOCOL_HTTP2));
    assert_false(port_protocol_is_http2(PORT_PROTOCOL_HTTP));
    assert_true(port_protocol_is_http(PORT_PROTOCOL_HTTP));
    assert_true(port_protocol_is_http(PORT_PROTOCOL_HTTP_PROXY));
    assert_true(port_protocol_is_http(PORT_PROTOCOL_GRPC));
    assert_false(port_protocol_is_http(PORT_PROTOCOL_HTTPS));
    assert_false(port_protocol_is_http(PORT_PROTOCOL_TCP));
    assert_false(port_protocol_is_http(PORT_PROTOCOL_UNSUPPORTED));
    assert_string_equal(port_protocol_name(PORT_PROTOCOL_GRPC_WEB), "GRPC-Web");
    assert_string_equal(port_protocol_name(PORT_PROTOCOL_UNSUPPORTED), "UnsupportedProtocol");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_is_case_insensitive_and_whole_name),
        cmocka_unit_test(test_kube_port_name_prefix),
        cmocka_unit_test(test_kube_app_protocol_wins_over_the_name),
        cmocka_unit_test(test_http_and_http2_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
