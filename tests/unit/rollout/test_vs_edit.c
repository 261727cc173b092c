/* SPDX-License-Identifier: Apache-2.0 */
/* Weights rewritten in place: only the weight scalars change (or a line is added), the rest
 * of the text stays byte for byte, and what comes out still passes the config checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "core/strbuf.h"
#include "harness.h"
#include "rollout/vs_edit.h"

static const struct dest_ref orders[] = {
    {"orders.prod.svc.cluster.local", "v1"},
    {"orders.prod.svc.cluster.local", "v2"},
};

static char *
read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static const char *
src_path(const char *rel)
{
    static char path[512];
    const char *dir = getenv("MESHLET_SRCDIR");
    snprintf(path, sizeof(path), "%s/%s", dir ? dir : ".", rel);
    return path;
}

/* <s> with the first <from> after <after> replaced by <to>, in a static buffer. */
static const char *
replace(const char *s, const char *after, const char *from, const char *to)
{
    static char out[1 << 16];
    const char *a = strstr(s, after);
    assert_non_null(a);
    const char *p = strstr(a, from);
    assert_non_null(p);
    snprintf(out, sizeof(out), "%.*s%s%s", (int)(p - s), s, to, p + strlen(from));
    return out;
}

static const char *
edit(const char *text, const char *name, const char *ns, const char *route,
     const struct dest_ref *d, const int *w, size_t n)
{
    static struct strbuf sb;
    char err[256] = "";
    strbuf_fini(&sb);
    strbuf_init(&sb, 1 << 20);
    size_t len = strlen(text);
    if (vs_edit_weights(harness_guarded(text, len), len, name, ns, route, d, w, n, &sb, err,
                        sizeof(err)))
        fail_msg("edit failed: %s", err);
    return strbuf_str(&sb);
}

static const char *
edit_err(const char *text, const char *name, const char *ns, const char *route,
         const struct dest_ref *d, const int *w, size_t n)
{
    static char err[256];
    struct strbuf sb;
    strbuf_init(&sb, 1 << 20);
    size_t len = strlen(text);
    int rc = vs_edit_weights(harness_guarded(text, len), len, name, ns, route, d, w, n, &sb, err,
                             sizeof(err));
    assert_int_equal(rc, -1);
    assert_int_equal(sb.len, 0);
    strbuf_fini(&sb);
    return err;
}

/* The edited demo must still load with no error (the config checks of `meshlet check`). */
static void
assert_config_ok(const char *vs_text)
{
    const char *dir = harness_tmpdir();
    const char *files[] = {"gateway.yaml", "service.yaml", "destination-rule.yaml"};
    for (size_t i = 0; i < 3; i++) {
        char rel[128];
        snprintf(rel, sizeof(rel), "examples/canary/%s", files[i]);
        harness_write(dir, files[i], read_all(src_path(rel)));
    }
    harness_write(dir, "virtual-service.yaml", vs_text);
    struct resource_set set;
    struct diag_list dl;
    config_init(&set);
    diag_list_init(&dl);
    const char *paths[] = {dir};
    assert_int_equal(config_load(&set, paths, 1, NULL, &dl), 0);
    config_analyze(&set, &dl);
    for (size_t i = 0; i < dl.len; i++)
        if (dl.items[i].severity == DIAG_ERROR) fail_msg("config error: %s", dl.items[i].message);
    assert_int_equal(set.len, 4);
    diag_list_fini(&dl);
    config_fini(&set);
}

static void
test_vs_edit_demo_file(void **state)
{
    (void)state;
    char *text = strdup(read_all(src_path("examples/canary/virtual-service.yaml")));
    int w[2];
    char err[256] = "";
    assert_int_equal(vs_read_weights(text, strlen(text), "orders", "prod", "orders", orders, w, 2,
                                     err, sizeof(err)),
                     0);
    assert_true(w[0] == 90 && w[1] == 10);

    const char *out = edit(text, "orders", "prod", "orders", orders, (int[]){50, 50}, 2);
    char *want = strdup(replace(text, "subset: v1\n      weight: ", "weight: 90", "weight: 50"));
    assert_string_equal(out,
                        replace(want, "subset: v2\n      weight: ", "weight: 10", "weight: 50"));
    free(want);
    assert_config_ok(out);
    /* no route name: the first http route with two destinations; no namespace: any */
    const char *again = edit(text, "orders", NULL, NULL, orders, (int[]){0, 100}, 2);
    assert_non_null(strstr(again, "subset: v1\n      weight: 0\n"));
    assert_non_null(strstr(again, "subset: v2\n      weight: 100\n"));
    assert_int_equal(strlen(again), strlen(text) - 1 + 1);
    assert_config_ok(again);
    /* read back what was written */
    assert_int_equal(
        vs_read_weights(again, strlen(again), "orders", NULL, NULL, orders, w, 2, err, sizeof(err)),
        0);
    assert_true(w[0] == 0 && w[1] == 100);
    free(text);
}

static const char multi[] = "# shop config\n"
                            "---\n"
                            "apiVersion: v1\n"
                            "kind: Service\n"
                            "metadata: {name: web, namespace: shop}\n"
                            "---\n"
                            "# the other namespace's, same name\n"
                            "apiVersion: networking.istio.io/v1\n"
                            "kind: VirtualService\n"
                            "metadata:\n"
                            "  name: web\n"
                            "  namespace: staging\n"
                            "spec:\n"
                            "  hosts: [web]\n"
                            "  http:\n"
                            "  - route:\n"
                            "    - destination: {host: web, subset: a}\n"
                            "      weight: 70\n"
                            "    - destination: {host: web, subset: b}\n"
                            "      weight: 30\n"
                            "---\n"
                            "apiVersion: networking.istio.io/v1\n"
                            "kind: VirtualService\n"
                            "metadata:\n"
                            "  namespace: shop   # ours\n"
                            "  name: web\n"
                            "spec:\n"
                            "  hosts: [web]\n"
                            "  http:\n"
                            "  - name: pinned\n"
                            "    route:\n"
                            "    - destination: {host: web, subset: a}\n"
                            "  - name: split   # the canary\n"
                            "    route:\n"
                            "      -   weight: \"80\"   # quoted\n"
                            "          destination:\n"
                            "            subset: a\n"
                            "            host: web.shop.svc.cluster.local\n"
                            "      # b gets the rest\n"
                            "      -   destination:\n"
                            "            host: web\n"
                            "            subset: b\n"
                            "          weight:    20 # note\n"
                            "...\n";

static void
test_vs_edit_multi_document_with_comments(void **state)
{
    (void)state;
    const struct dest_ref web[] = {{"web.shop.svc.cluster.local", "a"}, {"web", "b"}};
    const char *out = edit(multi, "web", "shop", "split", web, (int[]){5, 95}, 2);
    char *want =
        strdup(replace(multi, "namespace: shop   # ours", "weight: \"80\"", "weight: \"5\""));
    assert_string_equal(
        out, replace(want, "namespace: shop   # ours", "weight:    20 #", "weight:    95 #"));
    free(want);
    int w[2];
    char err[256] = "";
    assert_int_equal(
        vs_read_weights(out, strlen(out), "web", "shop", "split", web, w, 2, err, sizeof(err)), 0);
    assert_true(w[0] == 5 && w[1] == 95);
    /* the other namespace's, in flow style where weights are there to edit */
    const struct dest_ref staging[] = {{"web", "a"}, {"web.staging.svc.cluster.local", "b"}};
    const char *st = edit(multi, "web", "staging", NULL, staging, (int[]){1, 2}, 2);
    assert_non_null(strstr(st, "subset: a}\n      weight: 1\n"));
    assert_non_null(strstr(st, "subset: b}\n      weight: 2\n---"));
    assert_non_null(strstr(st, "weight: \"80\""));
    /* without a namespace the name is ambiguous */
    assert_string_equal(edit_err(multi, "web", NULL, NULL, web, (int[]){1, 2}, 2),
                        "VirtualService web is there twice (11:9 and 26:9): give its namespace");
}

static void
test_vs_edit_inserts_missing_weight(void **state)
{
    (void)state;
    const char *text = "kind: VirtualService\n"
                       "metadata:\n"
                       "  name: r\n"
                       "spec:\n"
                       "  http:\n"
                       "  - route:\n"
                       "    - destination:\n"
                       "        host: r.ns.svc.cluster.local\n"
                       "        subset: v1   # stable\n"
                       "    # canary\n"
                       "    - destination: {host: r.ns.svc.cluster.local, subset: v2}\n"
                       "      headers: {request: {set: {x-v: \"2\"}}}\n"
                       "    timeout: 3s\n";
    const struct dest_ref d[] = {{"r.ns.svc.cluster.local", "v1"},
                                 {"r.ns.svc.cluster.local", "v2"}};
    int w[2] = {-1, -1};
    char err[256] = "";
    assert_int_equal(
        vs_read_weights(text, strlen(text), "r", "ns", NULL, d, w, 2, err, sizeof(err)), 0);
    assert_true(w[0] == 0 && w[1] == 0);
    const char *out = edit(text, "r", "ns", NULL, d, (int[]){90, 10}, 2);
    assert_string_equal(out, "kind: VirtualService\n"
                             "metadata:\n"
                             "  name: r\n"
                             "spec:\n"
                             "  http:\n"
                             "  - route:\n"
                             "    - destination:\n"
                             "        host: r.ns.svc.cluster.local\n"
                             "        subset: v1   # stable\n"
                             "      weight: 90\n"
                             "    # canary\n"
                             "    - destination: {host: r.ns.svc.cluster.local, subset: v2}\n"
                             "      headers: {request: {set: {x-v: \"2\"}}}\n"
                             "      weight: 10\n"
                             "    timeout: 3s\n");
    /* the last line of the file, without its newline; CRLF lines keep CRLF */
    const char *last = "kind: VirtualService\r\nmetadata: {name: r}\r\nspec:\r\n  http:\r\n"
                       "  - route:\r\n    - destination: {host: a}\r\n      weight: 1\r\n"
                       "    - destination: {host: b}";
    const struct dest_ref ab[] = {{"a", NULL}, {"b", ""}};
    assert_string_equal(edit(last, "r", NULL, NULL, ab, (int[]){3, 4}, 2),
                        "kind: VirtualService\r\nmetadata: {name: r}\r\nspec:\r\n  http:\r\n"
                        "  - route:\r\n    - destination: {host: a}\r\n      weight: 3\r\n"
                        "    - destination: {host: b}\r\n      weight: 4");
    /* a lone CR ends a line too (the fuzzer's find: the line was taken to go on) */
    const char *cr = "kind: VirtualService\nmetadata: {name: r}\nspec:\n  http:\n  - route:\n"
                     "    - destination: {host: a}\n      weight: 1\n"
                     "    - destination: {host: b}\r---\nkind: Service\n";
    assert_string_equal(edit(cr, "r", NULL, NULL, ab, (int[]){3, 4}, 2),
                        "kind: VirtualService\nmetadata: {name: r}\nspec:\n  http:\n  - route:\n"
                        "    - destination: {host: a}\n      weight: 3\n"
                        "    - destination: {host: b}\r      weight: 4\r---\nkind: Service\n");
    /* the fuzzer's: a tab-only line (after a lone CR) that an added plain scalar would take
     * as its continuation; the result is checked, and refused */
    const char *tabs = "kind: VirtualService\nmetadata: {name: r}\nspec:\n  http:\n  - route:\n"
                       "    - destination: {host: a}\n      weight: 1\n"
                       "    - destination: {host: b}\t\r\t\t\n---\nkind: Service\n";
    assert_string_equal(edit_err(tabs, "r", NULL, NULL, ab, (int[]){3, 4}, 2),
                        "the edited text no longer reads (not valid YAML: 10:2: invalid tab used "
                        "as indentation): edit the weights by hand");
    /* a single destination without weight reads 100 */
    const char *one = "kind: VirtualService\nmetadata: {name: r}\nspec:\n  http:\n"
                      "  - name: x\n    route:\n    - destination: {host: a}\n";
    assert_int_equal(vs_read_weights(one, strlen(one), "r", NULL, "x", ab, w, 1, err, sizeof(err)),
                     0);
    assert_int_equal(w[0], 100);
}

static void
test_vs_edit_flow_style(void **state)
{
    (void)state;
    const char *text = "{kind: VirtualService, metadata: {name: f}, spec: {http: [{route: ["
                       "{destination: {host: a}, weight: 90}, {destination: {host: b}}]}]}}\n";
    const struct dest_ref ab[] = {{"a", NULL}, {"b", NULL}};
    /* an existing weight is edited in place, in any style */
    const char *out = edit(text, "f", NULL, NULL, ab, (int[]){40}, 1);
    assert_non_null(strstr(out, "{destination: {host: a}, weight: 40}, {destination: {host: b}}"));
    assert_string_equal(edit_err(text, "f", NULL, NULL, ab, (int[]){40, 60}, 2),
                        "destination at 1:107 is in flow style: add its weight by hand");
}

static void
test_vs_edit_errors_name_positions(void **state)
{
    (void)state;
    const char *text = read_all(src_path("examples/canary/virtual-service.yaml"));
    const struct dest_ref v3[] = {{"orders.prod.svc.cluster.local", "v3"}};
    const struct dest_ref other[] = {{"orders.staging.svc.cluster.local", "v1"}};
    const struct dest_ref nosub[] = {{"orders.prod.svc.cluster.local", NULL}};
    const struct dest_ref shorthost[] = {{"orders", "v1"}};
    int w[] = {10, 10};
    assert_string_equal(edit_err(text, "nope", NULL, NULL, orders, w, 2), "no VirtualService nope");
    assert_string_equal(edit_err(text, "orders", "dev", NULL, orders, w, 2),
                        "no VirtualService dev/orders");
    assert_string_equal(edit_err(text, "orders", NULL, "canary", orders, w, 2),
                        "VirtualService orders (13:3) has no http route named 'canary'");
    assert_string_equal(edit_err(text, "orders", NULL, NULL, v3, w, 1),
                        "no destination orders.prod.svc.cluster.local subset v3 in the http "
                        "route at 26:5");
    assert_string_equal(edit_err(text, "orders", NULL, NULL, other, w, 1),
                        "no destination orders.staging.svc.cluster.local subset v1 in the http "
                        "route at 26:5");
    assert_string_equal(edit_err(text, "orders", NULL, NULL, nosub, w, 1),
                        "no destination orders.prod.svc.cluster.local in the http route at 26:5");
    assert_string_equal(edit_err(text, "orders", NULL, "canary-header", orders, w, 2),
                        "no destination orders.prod.svc.cluster.local subset v1 in the http "
                        "route at 14:5");
    /* a short name resolves in the VirtualService's namespace */
    const char *out = edit(text, "orders", NULL, NULL, shorthost, (int[]){33}, 1);
    assert_non_null(strstr(out, "subset: v1\n      weight: 33\n"));
    const struct dest_ref same[] = {{"orders", "v1"}, {"orders.prod.svc.cluster.local", "v1"}};
    assert_string_equal(edit_err(text, "orders", NULL, NULL, same, w, 2),
                        "destinations 1 and 2 are the same item (31:7)");
    assert_string_equal(edit_err(text, "orders", NULL, NULL, orders, (int[]){-1, 101}, 2),
                        "weight -1 < 0");
    const char *twice = "kind: VirtualService\nmetadata: {name: r}\nspec:\n  http:\n"
                        "  - route:\n    - destination: {host: a}\n      weight: 1\n"
                        "    - destination: {host: a}\n      weight: 2\n";
    const struct dest_ref a[] = {{"a", NULL}};
    assert_string_equal(edit_err(twice, "r", NULL, NULL, a, w, 1),
                        "destination a is there twice in the route (6:7 and 8:7)");
    const char *alias = "kind: VirtualService\nmetadata: {name: r}\nspec:\n  http:\n"
                        "  - route:\n    - destination: {host: a}\n      weight: &w 1\n"
                        "    - destination: {host: b}\n      weight: *w\n";
    const struct dest_ref b[] = {{"b", NULL}};
    assert_string_equal(edit_err(alias, "r", NULL, NULL, b, w, 1),
                        "weight at 8:7 is not a number to edit");
    assert_string_equal(edit_err("kind: [\n", "r", NULL, NULL, b, w, 1),
                        "not valid YAML: 2:1: flow sequence without a closing bracket");
    /* binary or non-UTF-8 text is refused before libfyaml sees it */
    assert_string_equal(
        edit_err("kind: VirtualService\nmetadata: {name: r}\n\xff\n", "r", NULL, NULL, b, w, 1),
        "not YAML text: 3:1: file is not UTF-8 text");
    /* text that made libfyaml 0.7.12 crash printing its error (meshlet check too) */
    char *crash = strdup(read_all(src_path("tests/fixtures/yaml/libfyaml-diag-crash.yaml")));
    assert_string_equal(edit_err(crash, "r", NULL, NULL, b, w, 1),
                        "not valid YAML: 1:423: missing document start");
    free(crash);
    const char *none = "kind: VirtualService\nmetadata: {name: r}\nspec: {hosts: [a]}\n";
    assert_string_equal(edit_err(none, "r", NULL, NULL, b, w, 1),
                        "VirtualService r (3:1) has no http routes");
    const char *single = "kind: VirtualService\nmetadata: {name: r}\nspec:\n  http:\n"
                         "  - route: [{destination: {host: a}}]\n";
    assert_string_equal(edit_err(single, "r", NULL, NULL, b, w, 1),
                        "VirtualService r (4:3) has no http route with two destinations or more");
}

static void
test_vs_write_file_atomic(void **state)
{
    (void)state;
    const char *dir = harness_tmpdir();
    const char *path = harness_write(dir, "vs.yaml", "old\n");
    assert_int_equal(chmod(path, 0640), 0);
    char p[512], err[256] = "";
    snprintf(p, sizeof(p), "%s", path);
    assert_int_equal(vs_write_file(p, "new text\n", 9, err, sizeof(err)), 0);
    assert_string_equal(read_all(p), "new text\n");
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    /* through a symlink the target is replaced and the link stays */
    char link[512];
    snprintf(link, sizeof(link), "%s/link.yaml", dir);
    assert_int_equal(symlink(p, link), 0);
    assert_int_equal(vs_write_file(link, "via link\n", 9, err, sizeof(err)), 0);
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_string_equal(read_all(p), "via link\n");
    /* no leftovers; a directory that does not exist is an error naming the file */
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "test $(ls %s | wc -l) -eq 2", dir);
    assert_int_equal(system(cmd), 0);
    char bad[512];
    snprintf(bad, sizeof(bad), "%s/missing/vs.yaml", dir);
    assert_int_equal(vs_write_file(bad, "x", 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "No such file or directory"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vs_edit_demo_file),
        cmocka_unit_test(test_vs_edit_multi_document_with_comments),
        cmocka_unit_test(test_vs_edit_inserts_missing_weight),
        cmocka_unit_test(test_vs_edit_flow_style),
        cmocka_unit_test(test_vs_edit_errors_name_positions),
        cmocka_unit_test(test_vs_write_file_atomic),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    harness_cleanup();
    return rc;
}
