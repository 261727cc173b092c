/* SPDX-License-Identifier: Apache-2.0 */
/* promql_window (scrape.h): a rollout's window figures asked of a Prometheus server as
 * instant queries over its HTTP API, answers read with libfyaml as JSON. Owns the PromQL
 * text and the reading of /api/v1/query answers; the HTTP is scrape_http_get's. [M] */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "core/strbuf.h"
#include "rollout/scrape.h"
#include "config/field.h"
#include "config/source.h"

#define PROMQL_MAX_BODY (8u << 20)

/* <s> as the inside of a PromQL double-quoted string. */
static void
quoted(struct strbuf *sb, const char *s)
{
    strbuf_puts(sb, "\"");
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            strbuf_printf(sb, "\\%c", *s);
        else if (*s == '\n')
            strbuf_puts(sb, "\\n");
        else
            strbuf_add(sb, s, 1);
    }
    strbuf_puts(sb, "\"");
}

static void
selector(struct strbuf *sb, const char *metric, const struct traffic_query *q, bool only_5xx)
{
    strbuf_printf(sb, "%s{", metric);
    const char *sep = "";
    if (q->service) {
        strbuf_puts(sb, "destination_service=");
        quoted(sb, q->service);
        sep = ",";
    }
    if (q->version) {
        strbuf_printf(sb, "%sdestination_version=", sep);
        quoted(sb, q->version);
        sep = ",";
    }
    if (q->reporter) {
        strbuf_printf(sb, "%sreporter=", sep);
        quoted(sb, q->reporter);
        sep = ",";
    }
    if (only_5xx) strbuf_printf(sb, "%sresponse_code=~\"5..\"", sep);
    strbuf_puts(sb, "}");
}

/* RFC 3986 unreserved characters stay, everything else is %XX. */
static void
url_encode(struct strbuf *sb, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~')
            strbuf_add(sb, s, 1);
        else
            strbuf_printf(sb, "%%%02X", c);
    }
}

/* The single value of an instant vector answer; <*v> NAN for an empty vector. */
static int
answer(const char *json, size_t len, int status, double *v, char *err, size_t cap)
{
    struct fy_document *doc = source_document(json, len, true);
    struct fy_node *root = doc ? fy_document_root(doc) : NULL;
    size_t n = 0;
    const char *st = field_text(field_node(root, "status", -1), &n);
    int rc = -1;
    if (!st) {
        snprintf(err, cap, "HTTP %d, not a Prometheus API answer", status);
    } else if (n != 7 || memcmp(st, "success", 7)) {
        const char *why = field_text(field_node(root, "error", -1), &n);
        snprintf(err, cap, "HTTP %d: %.*s", status, why ? (int)(n > 200 ? 200 : n) : 7,
                 why ? why : "no text");
    } else {
        struct fy_node *data = field_node(root, "data", -1);
        const char *type = field_text(field_node(data, "resultType", -1), &n);
        struct fy_node *result = field_node(data, "result", -1);
        if (!type || n != 6 || memcmp(type, "vector", 6) || !result ||
            fy_node_get_type(result) != FYNT_SEQUENCE) {
            snprintf(err, cap, "expected an instant vector");
        } else if (fy_node_sequence_item_count(result) > 1) {
            snprintf(err, cap, "expected one series, got %d", fy_node_sequence_item_count(result));
        } else if (fy_node_sequence_item_count(result) == 0) {
            *v = NAN;
            rc = 0;
        } else {
            /* "value": [ <unix time>, "<number as text>" ] */
            struct fy_node *pair =
                field_node(fy_node_sequence_get_by_index(result, 0), "value", -1);
            const char *s = pair && fy_node_get_type(pair) == FYNT_SEQUENCE
                                ? field_text(fy_node_sequence_get_by_index(pair, 1), &n)
                                : NULL;
            char tmp[64], *e = NULL;
            if (s && n && n < sizeof(tmp)) {
                memcpy(tmp, s, n);
                tmp[n] = '\0';
                *v = strtod(tmp, &e);
            }
            if (!e || *e) {
                snprintf(err, cap, "a sample value that is not a number");
            } else {
                rc = 0;
            }
        }
    }
    fy_document_destroy(doc);
    return rc;
}

static int
query(const char *url, const char *promql, int timeout_ms, double *v, char *err, size_t cap)
{
    struct strbuf path, body;
    strbuf_init(&path, 16384);
    strbuf_init(&body, PROMQL_MAX_BODY);
    strbuf_puts(&path, "/api/v1/query?query=");
    url_encode(&path, promql);
    int status = 0, rc = -1;
    char why[256];
    if (path.truncated) {
        snprintf(err, cap, "query too long");
    } else if (scrape_http_get(url, strbuf_str(&path), timeout_ms, &status, &body, err, cap)) {
        /* err says it */
    } else if (answer(strbuf_str(&body), body.len, status, v, why, sizeof(why))) {
        snprintf(err, cap, "%s: %s: %s", url, promql, why);
    } else {
        rc = 0;
    }
    strbuf_fini(&path);
    strbuf_fini(&body);
    return rc;
}

int
promql_window(const char *url, const struct traffic_query *q, unsigned window_s, int timeout_ms,
              struct window_stats *out, char *err, size_t cap)
{
    if (!window_s) { /* PromQL refuses a zero range */
        snprintf(err, cap, "a window of 0 s");
        return -1;
    }
    struct strbuf e;
    strbuf_init(&e, 8192);
    double requests = NAN, errors = NAN, p99 = NAN, p50 = NAN;
    const struct {
        const char *fmt_head;
        bool bucket, only_5xx;
        double *into;
    } asks[] = {
        {"sum(increase(", false, false, &requests},
        {"sum(increase(", false, true, &errors},
        {"histogram_quantile(0.99, sum by (le) (increase(", true, false, &p99},
        {"histogram_quantile(0.5, sum by (le) (increase(", true, false, &p50},
    };
    int rc = 0;
    for (size_t i = 0; !rc && i < sizeof(asks) / sizeof(asks[0]); i++) {
        e.len = 0;
        strbuf_puts(&e, asks[i].fmt_head);
        selector(&e,
                 asks[i].bucket ? "istio_request_duration_milliseconds_bucket"
                                : "istio_requests_total",
                 q, asks[i].only_5xx);
        strbuf_printf(&e, "[%us]))%s", window_s, asks[i].bucket ? ")" : "");
        rc = query(url, strbuf_str(&e), timeout_ms, asks[i].into, err, cap);
        if (!rc && i == 0 && !(requests > 0)) break; /* no traffic: the rest is NAN */
    }
    strbuf_fini(&e);
    if (rc) return -1;
    /* an empty vector: no series in the window */
    *out = (struct window_stats){isnan(requests) ? 0 : requests, NAN, NAN, NAN};
    if (!(out->requests > 0)) return 0;
    if (isnan(errors)) errors = 0;
    if (errors > requests) errors = requests;
    out->success_rate = 100.0 * (requests - errors) / requests;
    out->p99_ms = p99;
    out->p50_ms = p50;
    return 0;
}
