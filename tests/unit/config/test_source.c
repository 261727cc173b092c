/* SPDX-License-Identifier: Apache-2.0 */
/* Loading: files and directories, multi-document YAML, kind: List, JSON, bad input of every
 * kind (malformed, binary, empty, oversize, deeply nested) and namespace defaults. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_case.h"

static const char *const vs_a =
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\n"
    "spec:\n  hosts: [a]\n  http:\n  - route:\n    - destination: {host: a}\n";

/* Load one path; returns config_load's result. */
static int
load_path(const char *path, struct resource_set *set, struct diag_list *dl,
          const struct config_options *opt)
{
    config_init(set);
    diag_list_init(dl);
    const char *paths[] = {path};
    return config_load(set, paths, 1, opt, dl);
}

static void
test_source_reads_directories_recursively_in_name_order(void **state)
{
    (void)state;
    const char *dir = harness_tmpdir();
    harness_write(dir, "b/z.yaml", vs_a);
    harness_write(dir, "a.yml",
                  "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\n"
                  "spec:\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n"
                  "    hosts: [\"*\"]\n");
    harness_write(dir, "c.json",
                  "{\"apiVersion\": \"networking.istio.io/v1\", \"kind\": \"DestinationRule\", "
                  "\"metadata\": {\"name\": \"d\"}, \"spec\": {\"host\": \"a\"}}");
    harness_write(dir, "notes.txt", "not config");
    harness_write(dir, ".hidden/x.yaml", "garbage: [");
    struct resource_set set;
    struct diag_list dl;
    assert_int_equal(load_path(dir, &set, &dl, NULL), 0);
    assert_int_equal(set.len, 3);
    assert_int_equal(dl.errors, 0);
    assert_int_equal(set.items[0]->kind, KIND_GATEWAY);
    assert_int_equal(set.items[1]->kind, KIND_VIRTUAL_SERVICE);
    assert_int_equal(set.items[2]->kind, KIND_DESTINATION_RULE);
    diag_list_fini(&dl);
    config_fini(&set);
}

/* The digest `meshlet run` and `explain -c` compare: the files' bytes, whatever their
 * names or order; any byte changed changes it. */
static void
test_source_digest_is_the_contents_not_names_or_order(void **state)
{
    (void)state;
    static const char *const vs_b =
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: b}\n"
        "spec:\n  hosts: [b]\n  http:\n  - route:\n    - destination: {host: b}\n";
    char one[512], two[512], three[512];
    snprintf(one, sizeof(one), "%s", harness_tmpdir());
    snprintf(two, sizeof(two), "%s", harness_tmpdir());
    snprintf(three, sizeof(three), "%s", harness_tmpdir());
    harness_write(one, "a.yaml", vs_a);
    harness_write(one, "b.yaml", vs_b);
    harness_write(two, "z.yaml", vs_a); /* read second: the order differs */
    harness_write(two, "sub/y.yml", vs_b);
    harness_write(two, "notes.txt", "not config, not read");
    harness_write(three, "a.yaml", vs_a);
    harness_write(three, "b.yaml", "# one more line\n---\n");
    uint64_t d[3];
    const char *dirs[] = {one, two, three};
    for (int i = 0; i < 3; i++) {
        struct resource_set set;
        struct diag_list dl;
        assert_int_equal(load_path(dirs[i], &set, &dl, NULL), 0);
        d[i] = set.source.digest;
        diag_list_fini(&dl);
        config_fini(&set);
    }
    assert_true(d[0] != 0);
    assert_true(d[0] == d[1]);
    assert_true(d[0] != d[2]);
}

static void
test_source_reads_multi_document_and_list(void **state)
{
    (void)state;
    struct resource_set set;
    struct diag_list dl;
    char text[4096];
    snprintf(text, sizeof(text),
             "---\n# only a comment\n---\n%s---\napiVersion: v1\nkind: List\nitems:\n"
             "- apiVersion: networking.istio.io/v1beta1\n  kind: VirtualService\n"
             "  metadata: {name: b, namespace: prod}\n  spec:\n    hosts: [b]\n    http:\n"
             "    - route:\n      - destination: {host: b}\n"
             "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: cm}\n",
             vs_a);
    config_case_load(text, false, &set, &dl);
    assert_int_equal(set.len, 2);
    assert_int_equal(set.n_skipped, 1);
    assert_string_equal(set.items[0]->ns, "default");
    assert_string_equal(set.items[1]->ns, "prod");
    assert_int_equal(dl.errors, 0);
    diag_list_fini(&dl);
    config_fini(&set);
}

static void
test_source_namespace_option_sets_the_default(void **state)
{
    (void)state;
    const char *dir = harness_tmpdir();
    harness_write(dir, "a.yaml", vs_a);
    struct resource_set set;
    struct diag_list dl;
    struct config_options opt = {.default_ns = "shop"};
    assert_int_equal(load_path(dir, &set, &dl, &opt), 0);
    assert_string_equal(set.items[0]->ns, "shop");
    diag_list_fini(&dl);
    config_fini(&set);
}

static void
test_source_reports_malformed_yaml_with_position(void **state)
{
    (void)state;
    struct resource_set set;
    struct diag_list dl;
    config_case_load("apiVersion: v1\nkind: [unclosed\nmetadata: {name: x}\n", false, &set, &dl);
    assert_int_equal(dl.errors, 1);
    assert_string_equal(dl.items[0].code, "ML0001");
    assert_non_null(strstr(dl.items[0].message, "malformed YAML"));
    assert_true(dl.items[0].line >= 2);
    assert_non_null(dl.items[0].file);
    diag_list_fini(&dl);
    config_fini(&set);
}

/* libfyaml 0.7.12 crashed displaying this file's error (a wild pointer): errors are
 * collected, never displayed. */
static void
test_source_malformed_yaml_that_crashed_libfyaml_diag(void **state)
{
    (void)state;
    const char *dir = getenv("MESHLET_SRCDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/tests/fixtures/yaml/libfyaml-diag-crash.yaml",
             dir ? dir : ".");
    struct resource_set set;
    struct diag_list dl;
    assert_int_equal(load_path(path, &set, &dl, NULL), 0);
    assert_true(dl.errors >= 1);
    bool found = false;
    for (size_t i = 0; i < dl.len; i++)
        found |= !strcmp(dl.items[i].message, "malformed YAML: missing document start") &&
                 dl.items[i].line == 1 && dl.items[i].col == 423;
    if (!found) config_case_dump(&dl);
    assert_true(found);
    diag_list_fini(&dl);
    config_fini(&set);
}

/* Strict UTF-8: libfyaml 0.7.12 looped for ever on a '%' followed by an overlong form or a
 * surrogate, so `meshlet check` (and a reload) hung on these 4-byte files. */
static void
test_source_refuses_overlong_and_surrogate_utf8(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "%\xe0\x90\x9e",     "%\xed\xa0\x80", "%\xf0\x80\x80\x80",
        "%\xf4\x90\x80\x80", "a: \xc0\xaf\n", "a: \xe0\x9f\xbf\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct resource_set set;
        struct diag_list dl;
        config_case_load(bad[i], false, &set, &dl);
        assert_int_equal(dl.errors, 1);
        assert_non_null(strstr(dl.items[0].message, "file is not UTF-8 text"));
        diag_list_fini(&dl);
        config_fini(&set);
    }
    /* the edges that are valid stay so: U+0800, U+D7FF, U+E000, U+10000, U+10FFFF */
    struct resource_set set;
    struct diag_list dl;
    config_case_load("a: \"\xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 \xf0\x90\x80\x80 "
                     "\xf4\x8f\xbf\xbf\"\n",
                     false, &set, &dl);
    for (size_t i = 0; i < dl.len; i++) assert_null(strstr(dl.items[i].message, "UTF-8"));
    diag_list_fini(&dl);
    config_fini(&set);
}

static void
test_source_reports_binary_garbage(void **state)
{
    (void)state;
    const char *dir = harness_tmpdir();
    unsigned char junk[4096];
    unsigned x = 12345;
    for (size_t i = 0; i < sizeof(junk); i++) {
        x = x * 1103515245 + 12345;
        junk[i] = (unsigned char)(x >> 16);
    }
    const char *path = harness_write_bytes(dir, "junk.yaml", junk, sizeof(junk));
    struct resource_set set;
    struct diag_list dl;
    assert_int_equal(load_path(path, &set, &dl, NULL), 0);
    assert_true(dl.errors >= 1);
    assert_string_equal(dl.items[0].code, "ML0001");
    diag_list_fini(&dl);
    config_fini(&set);
}

static void
test_source_refuses_alias_bomb_at_its_alias(void **state)
{
    (void)state;
    /* 9 items nested 8 deep through anchors: 9^9 nodes expanded. */
    char text[1024];
    size_t n = (size_t)snprintf(text, sizeof(text), "a: &a [x, x, x, x, x, x, x, x, x]\n");
    for (char c = 'b'; c <= 'i'; c++) {
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%c: &%c [", c, c);
        for (int k = 0; k < 9; k++)
            n += (size_t)snprintf(text + n, sizeof(text) - n, "%s*%c", k ? ", " : "", c - 1);
        n += (size_t)snprintf(text + n, sizeof(text) - n, "]\n");
    }
    const char *path = harness_write(harness_tmpdir(), "bomb.yaml", text);
    struct resource_set set;
    struct diag_list dl;
    assert_int_equal(load_path(path, &set, &dl, NULL), 0);
    assert_int_equal(dl.errors, 1);
    const struct diag *d = &dl.items[0];
    assert_string_equal(d->code, "ML0001");
    assert_non_null(strstr(d->message, "YAML aliases would add more than 100000 nodes"));
    /* line 6 is "f: &f [*e, ...]": the first alias whose expansion passes the bound */
    assert_int_equal(d->line, 6);
    assert_int_equal(d->col, 8);
    diag_list_fini(&dl);
    config_fini(&set);
}

static void
test_source_reads_ipv6_in_flow_sequence_as_one_string(void **state)
{
    (void)state;
    const char *path = harness_write(
        harness_tmpdir(), "se.yaml",
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: s}\n"
        "spec:\n  hosts: [a.example.com]\n  addresses: [2001:db8::, 1.2.3.4, ::]\n"
        "  ports: [{number: 80, name: http, protocol: HTTP}]\n");
    struct resource_set set;
    struct diag_list dl;
    assert_int_equal(load_path(path, &set, &dl, NULL), 0);
    if (dl.errors) config_case_dump(&dl);
    assert_int_equal(dl.errors, 0);
    const struct str_list *a = &set.items[0]->spec.se->addresses;
    assert_int_equal(a->len, 3);
    assert_string_equal(a->v[0], "2001:db8::");
    assert_string_equal(a->v[1], "1.2.3.4");
    assert_string_equal(a->v[2], "::");
    diag_list_fini(&dl);
    config_fini(&set);
}

static void
test_source_empty_file_is_an_error_when_nothing_else_is_loaded(void **state)
{
    (void)state;
    struct resource_set set;
    struct diag_list dl;
    config_case_load("", false, &set, &dl);
    assert_int_equal(dl.errors, 1);
    assert_non_null(strstr(dl.items[0].message, "no Istio or Kubernetes resources found"));
    diag_list_fini(&dl);
    config_fini(&set);
}

static void
test_source_refuses_oversize_file(void **state)
{
    (void)state;
    const char *dir = harness_tmpdir();
    size_t n = SOURCE_MAX_FILE_BYTES + 1;
    char *big = malloc(n);
    memset(big, '#', n);
    const char *path = harness_write_bytes(dir, "big.yaml", big, n);
    free(big);
    struct resource_set set;
    struct diag_list dl;
    assert_int_equal(load_path(path, &set, &dl, NULL), 0);
    assert_int_equal(dl.errors, 1);
    assert_non_null(strstr(dl.items[0].message, "config files are read up to 16 MB"));
    diag_list_fini(&dl);
    config_fini(&set);
}

static void
test_source_refuses_deep_nesting(void **state)
{
    (void)state;
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof(text),
                                "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                                "metadata: {name: deep}\nspec:\n  hosts: ");
    for (int i = 0; i < 2000; i++) text[n++] = '[';
    text[n] = '\0';
    struct resource_set set;
    struct diag_list dl;
    config_case_load(text, false, &set, &dl);
    assert_true(dl.errors >= 1);
    diag_list_fini(&dl);
    config_fini(&set);
}

static void
test_source_missing_path_is_a_usage_error(void **state)
{
    (void)state;
    struct resource_set set;
    struct diag_list dl;
    assert_int_equal(load_path("/nonexistent/meshlet/config.yaml", &set, &dl, NULL), -ENOENT);
    assert_int_equal(dl.errors, 1);
    diag_list_fini(&dl);
    config_fini(&set);
}

static void
test_source_document_not_a_mapping_is_reported(void **state)
{
    (void)state;
    struct resource_set set;
    struct diag_list dl;
    config_case_load("- a\n- b\n", false, &set, &dl);
    assert_true(diag_list_has(&dl, "ML0001", NULL));
    diag_list_fini(&dl);
    config_fini(&set);
}

/* A config store's values load as files do: several documents per value, `kind: List`,
 * the same digest as the same bytes on disk, and bad text reported by the value's name with
 * its position (taken from the kept nodes: there is no file to read it from again). */
static void
test_source_loads_in_memory_documents_as_files(void **state)
{
    (void)state;
    static const char *const dr =
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\n"
        "spec:\n  host: a\n";
    char both[1024];
    snprintf(both, sizeof(both), "%s---\n%s", vs_a, dr);
    const char *dir = harness_tmpdir();
    harness_write(dir, "c.yaml", both);
    struct resource_set set;
    struct diag_list dl;
    assert_int_equal(load_path(dir, &set, &dl, NULL), 0);
    uint64_t file_digest = set.source.digest;
    diag_list_fini(&dl);
    config_fini(&set);

    struct source_doc docs[] = {{"store/c", both, strlen(both)}};
    config_init(&set);
    diag_list_init(&dl);
    config_load_docs(&set, docs, 1, NULL, &dl);
    assert_int_equal(dl.errors, 0);
    assert_int_equal(set.source.n_docs, 0); /* no nodes kept: read again for positions */
    config_analyze(&set, &dl); /* host a is unknown: found after loading, still placed */
    assert_int_equal(dl.errors, 1);
    assert_string_equal(dl.items[0].file, "store/c");
    assert_int_equal(dl.items[0].line, 8);
    assert_int_equal(set.len, 2);
    assert_int_equal(set.items[0]->kind, KIND_VIRTUAL_SERVICE);
    assert_int_equal(set.items[1]->kind, KIND_DESTINATION_RULE);
    assert_string_equal(set.items[1]->file, "store/c");
    assert_true(set.source.digest == file_digest);
    assert_true(config_digest(&set, "default") != config_digest(&set, "prod"));
    diag_list_fini(&dl);
    config_fini(&set);

    /* A bad value among good ones: reported by name and line; the good ones still load. */
    static const char *const bad = "apiVersion: networking.istio.io/v1\nkind: [\n";
    static const char *const bad_weight =
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: w}\n"
        "spec:\n  hosts: [w]\n  http:\n  - route:\n    - destination: {host: w}\n"
        "      weight: -5\n";
    struct source_doc mixed[] = {
        {"store/good", vs_a, strlen(vs_a)},
        {"store/bad", bad, strlen(bad)},
        {"store/weight", bad_weight, strlen(bad_weight)},
        {"store/binary", "\x01\x02", 2},
    };
    config_init(&set);
    diag_list_init(&dl);
    config_load_docs(&set, mixed, 4, NULL, &dl);
    assert_int_equal(dl.errors, 3);
    bool malformed = false, weight = false, binary = false;
    for (size_t i = 0; i < dl.len; i++) {
        const struct diag *d = &dl.items[i];
        if (d->severity != DIAG_ERROR) continue;
        if (!strcmp(d->file, "store/bad")) malformed = d->line == 3;
        if (!strcmp(d->file, "store/weight")) weight = d->line == 9;
        if (!strcmp(d->file, "store/binary")) binary = d->line == 1;
    }
    assert_true(malformed);
    assert_true(weight);
    assert_true(binary);
    assert_int_equal(set.items[0]->kind, KIND_VIRTUAL_SERVICE);
    assert_string_equal(set.items[0]->name, "a");
    diag_list_fini(&dl);
    config_fini(&set);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_source_reads_directories_recursively_in_name_order),
        cmocka_unit_test(test_source_reads_multi_document_and_list),
        cmocka_unit_test(test_source_namespace_option_sets_the_default),
        cmocka_unit_test(test_source_reports_malformed_yaml_with_position),
        cmocka_unit_test(test_source_reports_binary_garbage),
        cmocka_unit_test(test_source_empty_file_is_an_error_when_nothing_else_is_loaded),
        cmocka_unit_test(test_source_refuses_oversize_file),
        cmocka_unit_test(test_source_refuses_alias_bomb_at_its_alias),
        cmocka_unit_test(test_source_reads_ipv6_in_flow_sequence_as_one_string),
        cmocka_unit_test(test_source_refuses_deep_nesting),
        cmocka_unit_test(test_source_missing_path_is_a_usage_error),
        cmocka_unit_test(test_source_document_not_a_mapping_is_reported),
        cmocka_unit_test(test_source_digest_is_the_contents_not_names_or_order),
        cmocka_unit_test(test_source_loads_in_memory_documents_as_files),
        cmocka_unit_test(test_source_malformed_yaml_that_crashed_libfyaml_diag),
        cmocka_unit_test(test_source_refuses_overlong_and_surrogate_utf8),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    harness_cleanup();
    return rc;
}
