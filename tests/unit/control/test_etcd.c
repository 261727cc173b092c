/* SPDX-License-Identifier: Apache-2.0 */
/* etcd's JSON gateway as control/etcd.c speaks it: request bodies (prefix ranges, the last
 * byte 0xff case, the whole keyspace), range answers (revision, keys and values decoded,
 * empty values left out), watch messages (created, PUT and DELETE events, one transaction's
 * events, compaction), and what is refused (etcd's error answers, not JSON, bad base64). */
#include <string.h>

#include "control/etcd.h"
#include "harness.h"

struct seen {
    char keys[8][64];
    char values[8][64];
    int64_t revs[8];
    bool deleted[8];
    size_t n;
};

static void
collect(void *arg, const struct etcd_kv *kv)
{
    struct seen *s = arg;
    if (s->n == 8) return;
    memcpy(s->keys[s->n], kv->key, kv->key_len);
    memcpy(s->values[s->n], kv->value, kv->value_len);
    s->revs[s->n] = kv->mod_revision;
    s->deleted[s->n] = kv->deleted;
    s->n++;
}

static void
test_etcd_bodies_name_the_prefix_and_its_end(void **state)
{
    (void)state;
    struct strbuf sb;
    strbuf_init(&sb, 4096);
    etcd_range_body(&sb, "/meshlet/"); /* range_end "/meshlet0" */
    assert_string_equal(strbuf_str(&sb),
                        "{\"key\":\"L21lc2hsZXQv\",\"range_end\":\"L21lc2hsZXQw\"}");
    sb.len = 0;
    etcd_watch_body(&sb, "a\xff", 42); /* the 0xff is dropped, the 'a' becomes 'b' */
    assert_string_equal(strbuf_str(&sb),
                        "{\"create_request\":{\"key\":\"Yf8=\",\"range_end\":\"Yg==\","
                        "\"start_revision\":\"42\"}}");
    sb.len = 0;
    etcd_range_body(&sb, "\xff"); /* every key from it on: range_end "\0" */
    assert_string_equal(strbuf_str(&sb), "{\"key\":\"/w==\",\"range_end\":\"AA==\"}");
    strbuf_fini(&sb);
}

static void
test_etcd_range_answer_gives_revision_and_keys(void **state)
{
    (void)state;
    static const char json[] = "{\"header\":{\"cluster_id\":\"1\",\"revision\":\"17\"},\"kvs\":["
                               "{\"key\":\"L20vYQ==\",\"create_revision\":\"2\",\"mod_revision\":"
                               "\"5\",\"value\":\"eDogMQ==\"},"
                               "{\"key\":\"L20vYg==\",\"mod_revision\":\"9\"}],\"count\":\"2\"}";
    struct seen s = {0};
    int64_t rev = 0;
    char err[256];
    assert_int_equal(etcd_parse_range(json, strlen(json), &rev, collect, &s, err, sizeof(err)), 0);
    assert_int_equal(rev, 17);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.keys[0], "/m/a");
    assert_string_equal(s.values[0], "x: 1");
    assert_int_equal(s.revs[0], 5);
    assert_string_equal(s.keys[1], "/m/b");
    assert_string_equal(s.values[1], ""); /* an empty value is left out of the JSON */
    static const char none[] = "{\"header\":{\"revision\":\"3\"}}";
    struct seen z = {0};
    assert_int_equal(etcd_parse_range(none, strlen(none), &rev, collect, &z, err, sizeof(err)), 0);
    assert_int_equal(rev, 3);
    assert_int_equal(z.n, 0);
}

static void
test_etcd_watch_messages(void **state)
{
    (void)state;
    struct etcd_watch_msg m;
    char err[256];
    struct seen s = {0};
    static const char created[] = "{\"result\":{\"header\":{\"revision\":\"7\"},\"created\":true}}";
    assert_int_equal(etcd_parse_watch(created, strlen(created), &m, collect, &s, err, sizeof(err)),
                     0);
    assert_true(m.created);
    assert_false(m.canceled);
    assert_int_equal(m.revision, 7);
    assert_int_equal(m.n_events, 0);
    static const char txn[] =
        "{\"result\":{\"header\":{\"revision\":\"8\"},\"events\":["
        "{\"kv\":{\"key\":\"L20vYQ==\",\"mod_revision\":\"8\",\"value\":\"eQ==\"}},"
        "{\"type\":\"DELETE\",\"kv\":{\"key\":\"L20vYg==\",\"mod_revision\":\"8\"}}]}}";
    assert_int_equal(etcd_parse_watch(txn, strlen(txn), &m, collect, &s, err, sizeof(err)), 0);
    assert_int_equal(m.n_events, 2);
    assert_int_equal(s.n, 2);
    assert_false(s.deleted[0]);
    assert_string_equal(s.values[0], "y");
    assert_true(s.deleted[1]);
    assert_string_equal(s.keys[1], "/m/b");
    assert_int_equal(s.revs[0], 8);
    assert_int_equal(s.revs[1], 8);
    static const char compacted[] = "{\"result\":{\"header\":{\"revision\":\"30\"},\"canceled\":"
                                    "true,\"compact_revision\":\"25\"}}";
    assert_int_equal(
        etcd_parse_watch(compacted, strlen(compacted), &m, collect, &s, err, sizeof(err)), 0);
    assert_true(m.canceled);
    assert_int_equal(m.compact_revision, 25);
}

static void
test_etcd_refuses_errors_and_garbage(void **state)
{
    (void)state;
    char err[256];
    int64_t rev;
    struct seen s = {0};
    static const char error[] = "{\"error\":\"etcdserver: mvcc: required revision has been "
                                "compacted\",\"code\":11,\"message\":\"x\"}";
    assert_int_equal(etcd_parse_range(error, strlen(error), &rev, collect, &s, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "required revision has been compacted"));
    static const char html[] = "<html>nope</html>";
    assert_int_equal(etcd_parse_range(html, strlen(html), &rev, collect, &s, err, sizeof(err)), -1);
    static const char bad64[] =
        "{\"header\":{\"revision\":\"3\"},\"kvs\":[{\"key\":\"!!!\",\"value\":\"eQ==\"}]}";
    assert_int_equal(etcd_parse_range(bad64, strlen(bad64), &rev, collect, &s, err, sizeof(err)),
                     -1);
    static const char norev[] = "{\"header\":{},\"kvs\":[]}";
    assert_int_equal(etcd_parse_range(norev, strlen(norev), &rev, collect, &s, err, sizeof(err)),
                     -1);
    assert_int_equal(s.n, 0);
}

static void
test_etcd_txn_guards_each_key_and_reads_them_when_refused(void **state)
{
    (void)state;
    struct strbuf sb;
    strbuf_init(&sb, 4096);
    struct etcd_op ops[] = {
        {"/m/a", "x: 1", 4, 0}, /* create: still absent */
        {"/m/b", "", 0, 7},     /* update, with an empty value */
        {"/m/c", NULL, 0, 9},   /* delete */
    };
    etcd_txn_body(&sb, ops, 3);
    assert_string_equal(
        strbuf_str(&sb),
        "{\"compare\":["
        "{\"key\":\"L20vYQ==\",\"target\":\"CREATE\",\"result\":\"EQUAL\",\"create_revision\":"
        "\"0\"},"
        "{\"key\":\"L20vYg==\",\"target\":\"MOD\",\"result\":\"EQUAL\",\"mod_revision\":\"7\"},"
        "{\"key\":\"L20vYw==\",\"target\":\"MOD\",\"result\":\"EQUAL\",\"mod_revision\":\"9\"}],"
        "\"success\":["
        "{\"request_put\":{\"key\":\"L20vYQ==\",\"value\":\"eDogMQ==\"}},"
        "{\"request_put\":{\"key\":\"L20vYg==\",\"value\":\"\"}},"
        "{\"request_delete_range\":{\"key\":\"L20vYw==\"}}],"
        "\"failure\":["
        "{\"request_range\":{\"key\":\"L20vYQ==\"}},"
        "{\"request_range\":{\"key\":\"L20vYg==\"}},"
        "{\"request_range\":{\"key\":\"L20vYw==\"}}]}");
    sb.len = 0;
    etcd_range_keys_body(&sb, "/m/a", false);
    assert_string_equal(strbuf_str(&sb), "{\"key\":\"L20vYQ==\"}");
    sb.len = 0;
    etcd_range_keys_body(&sb, "/m/", true);
    assert_string_equal(strbuf_str(&sb), "{\"key\":\"L20v\",\"range_end\":\"L20w\"}");
    strbuf_fini(&sb);

    bool ok = false;
    int64_t rev = 0;
    char err[256];
    struct seen s = {0};
    static const char won[] = "{\"header\":{\"revision\":\"12\"},\"succeeded\":true,"
                              "\"responses\":[{\"response_put\":{\"header\":{}}}]}";
    assert_int_equal(etcd_parse_txn(won, strlen(won), &ok, &rev, collect, &s, err, sizeof(err)), 0);
    assert_true(ok);
    assert_int_equal(rev, 12);
    assert_int_equal(s.n, 0);
    /* Refused: no "succeeded"; the key that changed is read back, the absent one is not. */
    static const char lost[] =
        "{\"header\":{\"revision\":\"14\"},\"responses\":["
        "{\"response_range\":{\"header\":{\"revision\":\"14\"}}},"
        "{\"response_range\":{\"header\":{\"revision\":\"14\"},\"kvs\":[{\"key\":\"L20vYg==\","
        "\"create_revision\":\"3\",\"mod_revision\":\"13\",\"value\":\"eQ==\"}],\"count\":\"1\"}}]"
        "}";
    assert_int_equal(etcd_parse_txn(lost, strlen(lost), &ok, &rev, collect, &s, err, sizeof(err)),
                     0);
    assert_false(ok);
    assert_int_equal(rev, 14);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.keys[0], "/m/b");
    assert_int_equal(s.revs[0], 13);
    static const char error[] = "{\"error\":\"etcdserver: too many operations in txn request\","
                                "\"code\":3}";
    assert_int_equal(etcd_parse_txn(error, strlen(error), &ok, &rev, collect, &s, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "too many operations"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_etcd_bodies_name_the_prefix_and_its_end),
        cmocka_unit_test(test_etcd_range_answer_gives_revision_and_keys),
        cmocka_unit_test(test_etcd_watch_messages),
        cmocka_unit_test(test_etcd_refuses_errors_and_garbage),
        cmocka_unit_test(test_etcd_txn_guards_each_key_and_reads_them_when_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
