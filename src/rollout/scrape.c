/* SPDX-License-Identifier: Apache-2.0 */
/* See scrape.h. The exposition reader, the fetch over control/'s blocking HTTP client, and
 * the arithmetic on totals (delta, quantile, window figures). Not the PromQL side
 * (promql.c) nor what a figure means for a rollout (analysis.c). [M] */
#include "rollout/scrape.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/etcd_http.h"

#define SCRAPE_MAX_BODY (64u << 20)
#define LABEL_VALUE_MAX 512
#define SCRAPE_DEFAULT_TIMEOUT_MS 10000

struct reader {
    size_t line;
    char *err;
    size_t cap;
};

/* A series of the duration histogram that matched, to check that it has its +Inf. */
struct seen {
    uint64_t key;
    bool inf;
    size_t line;
};

struct seen_set {
    struct seen *v;
    size_t n, cap;
};

static int
fail(const struct reader *r, const char *why)
{
    snprintf(r->err, r->cap, "line %zu: %s", r->line, why);
    return -1;
}

static bool
blank(char c)
{
    return c == ' ' || c == '\t';
}

static const char *
skip_blanks(const char *p, const char *end)
{
    while (p < end && blank(*p)) p++;
    return p;
}

static bool
name_char(char c, bool first, bool colon)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
    if (colon && c == ':') return true;
    return !first && c >= '0' && c <= '9';
}

/* A name at <p>; its end, or NULL when there is none. */
static const char *
name_end(const char *p, const char *end, bool colon)
{
    const char *s = p;
    while (p < end && name_char(*p, p == s, colon)) p++;
    return p == s ? NULL : p;
}

static bool
token_is(const char *p, size_t n, const char *s)
{
    return n == strlen(s) && !memcmp(p, s, n);
}

/* A float as Prometheus writes them (Go's ParseFloat: NaN, +Inf, -Inf, exponents). */
static bool
parse_float(const char *p, size_t n, double *v)
{
    char tmp[64];
    if (!n || n >= sizeof(tmp)) return false;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    char *e;
    *v = strtod(tmp, &e);
    return *e == '\0';
}

static bool
parse_timestamp(const char *p, size_t n)
{
    size_t i = n && (*p == '-' || *p == '+');
    if (i == n) return false;
    for (; i < n; i++)
        if (p[i] < '0' || p[i] > '9') return false;
    return true;
}

static uint64_t
fnv(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211u;
    return h;
}

/* What a sample line says that we look at. */
struct sample {
    const char *name;
    size_t name_len;
    char service[LABEL_VALUE_MAX], version[LABEL_VALUE_MAX], reporter[LABEL_VALUE_MAX];
    char code[LABEL_VALUE_MAX], le[LABEL_VALUE_MAX];
    bool has_service, has_version, has_reporter, has_code, has_le;
    bool too_long; /* a label we look at was longer than LABEL_VALUE_MAX: it matches nothing */
    uint64_t key;  /* the label set without le, order-free */
    double value;
};

/* The label value after its opening quote at <*pp>, unescaped into <out> (cut at <cap>,
 * <*cut> set). Leaves <*pp> after the closing quote. */
static int
label_value(const struct reader *r, const char **pp, const char *end, char *out, size_t cap,
            size_t *len, bool *cut)
{
    const char *p = *pp;
    size_t n = 0;
    for (;;) {
        if (p >= end) return fail(r, "label value without its closing quote");
        char c = *p++;
        if (c == '"') break;
        if (c == '\\') {
            if (p >= end) return fail(r, "label value without its closing quote");
            c = *p++;
            if (c == 'n')
                c = '\n';
            else if (c != '\\' && c != '"')
                return fail(r, "invalid escape in a label value (only \\\\, \\\" and \\n)");
        }
        if (n + 1 < cap)
            out[n++] = c;
        else
            *cut = true;
    }
    out[n] = '\0';
    *len = n;
    *pp = p;
    return 0;
}

static int
labels(const struct reader *r, const char **pp, const char *end, struct sample *s)
{
    const char *p = *pp + 1; /* past '{' */
    char tmp[LABEL_VALUE_MAX];
    for (;;) {
        p = skip_blanks(p, end);
        if (p < end && *p == '}') break;
        const char *ne = p < end ? name_end(p, end, false) : NULL;
        if (!ne) return fail(r, "expected a label name or '}'");
        const char *name = p;
        size_t name_len = (size_t)(ne - p);
        p = skip_blanks(ne, end);
        if (p >= end || *p != '=') return fail(r, "expected '=' after a label name");
        p = skip_blanks(p + 1, end);
        if (p >= end || *p != '"') return fail(r, "expected '\"' to open a label value");
        p++;
        size_t len = 0;
        bool cut = false;
        if (label_value(r, &p, end, tmp, sizeof(tmp), &len, &cut)) return -1;
        struct {
            const char *label;
            char *into;
            bool *has;
        } const mine[] = {
            {"destination_service", s->service, &s->has_service},
            {"destination_version", s->version, &s->has_version},
            {"reporter", s->reporter, &s->has_reporter},
            {"response_code", s->code, &s->has_code},
            {"le", s->le, &s->has_le},
        };
        for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++) {
            if (!token_is(name, name_len, mine[i].label)) continue;
            if (*mine[i].has) return fail(r, "a label given twice");
            *mine[i].has = true;
            memcpy(mine[i].into, tmp, len + 1);
            s->too_long |= cut;
        }
        if (!token_is(name, name_len, "le")) {
            /* order-free: a sum of the pairs' hashes */
            uint64_t h = fnv(fnv(14695981039346656037u, name, name_len), "=", 1);
            s->key += fnv(h, tmp, len) + (cut ? 1 : 0);
        }
        p = skip_blanks(p, end);
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end && *p == '}') break;
        return fail(r, "expected ',' or '}' after a label value");
    }
    *pp = p + 1;
    return 0;
}

/* One sample line [<p>, <end>) (blanks first skipped, not a comment). */
static int
sample_line(const struct reader *r, const char *p, const char *end, struct sample *s)
{
    const char *ne = name_end(p, end, true);
    if (!ne) return fail(r, "expected a metric name");
    s->name = p;
    s->name_len = (size_t)(ne - p);
    p = skip_blanks(ne, end);
    if (p < end && *p == '{') {
        if (labels(r, &p, end, s)) return -1;
    } else {
        p = ne;
    }
    const char *v = skip_blanks(p, end);
    if (v == p || v == end) return fail(r, "expected a blank then a value");
    p = v;
    while (p < end && !blank(*p)) p++;
    if (!parse_float(v, (size_t)(p - v), &s->value)) return fail(r, "value is not a number");
    const char *ts = skip_blanks(p, end);
    if (ts < end) {
        p = ts;
        while (p < end && !blank(*p)) p++;
        if (!parse_timestamp(ts, (size_t)(p - ts)))
            return fail(r, "expected an integer timestamp or the end of the line");
        if (skip_blanks(p, end) != end) return fail(r, "text after the timestamp");
    }
    return 0;
}

static bool
same(bool has, const char *got, const char *want)
{
    return !want || (has && !strcmp(got, want));
}

static bool
is_5xx(const char *code)
{
    return code[0] == '5' && code[1] >= '0' && code[1] <= '9' && code[2] >= '0' && code[2] <= '9' &&
           !code[3];
}

/* Add <v> to the cumulative count at bound <le>. Counts are cumulative, so a bound past
 * TRAFFIC_MAX_BOUNDS is dropped at the cost of resolution only. */
static void
add_bucket(struct traffic *out, double le, double v)
{
    if (isinf(le) && le > 0) {
        out->cum[out->n_bounds] += v;
        return;
    }
    size_t i = 0;
    while (i < out->n_bounds && out->bounds[i] < le) i++;
    if (i == out->n_bounds || out->bounds[i] != le) {
        if (out->n_bounds == TRAFFIC_MAX_BOUNDS) return;
        /* a bound new to the total: 0 so far, as sum by (le) would have it */
        memmove(&out->bounds[i + 1], &out->bounds[i], (out->n_bounds - i) * sizeof(double));
        memmove(&out->cum[i + 1], &out->cum[i], (out->n_bounds + 1 - i) * sizeof(double));
        out->bounds[i] = le;
        out->cum[i] = 0;
        out->n_bounds++;
    }
    out->cum[i] += v;
}

static int
note_series(const struct reader *r, struct seen_set *set, uint64_t key, bool inf)
{
    for (size_t i = 0; i < set->n; i++) {
        if (set->v[i].key != key) continue;
        if (inf && set->v[i].inf) return fail(r, "a second le=\"+Inf\" bucket for one series");
        set->v[i].inf |= inf;
        return 0;
    }
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 16;
        struct seen *v = realloc(set->v, cap * sizeof(*v));
        if (!v) return fail(r, "out of memory");
        set->v = v;
        set->cap = cap;
    }
    set->v[set->n++] = (struct seen){key, inf, r->line};
    return 0;
}

static int
take(const struct reader *r, const struct traffic_query *q, const struct sample *s,
     struct traffic *out, struct seen_set *set)
{
    bool requests = token_is(s->name, s->name_len, "istio_requests_total");
    bool bucket = token_is(s->name, s->name_len, "istio_request_duration_milliseconds_bucket");
    if (!requests && !bucket) return 0;
    if (s->too_long || !same(s->has_service, s->service, q->service) ||
        !same(s->has_version, s->version, q->version) ||
        !same(s->has_reporter, s->reporter, q->reporter))
        return 0;
    if (!isfinite(s->value) || s->value < 0) return fail(r, "a count that is not finite and >= 0");
    if (requests) {
        out->requests += s->value;
        if (s->has_code && is_5xx(s->code)) out->errors += s->value;
        return 0;
    }
    double le;
    if (!s->has_le) return fail(r, "a histogram bucket without le");
    if (!parse_float(s->le, strlen(s->le), &le) || isnan(le)) return fail(r, "le is not a number");
    bool inf = isinf(le) && le > 0;
    if (note_series(r, set, s->key, inf)) return -1;
    add_bucket(out, le, s->value);
    return 0;
}

int
scrape_parse(const char *text, size_t len, const struct traffic_query *q, struct traffic *out,
             char *err, size_t cap)
{
    struct reader r = {0, err, cap};
    struct seen_set set = {0};
    const char *p = text, *end = text + len;
    int rc = 0;
    while (!rc && p < end) {
        r.line++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        const char *s = skip_blanks(p, eol);
        if (!nl && s < eol) {
            rc = fail(&r, "no newline at the end (a cut exposition?)");
            break;
        }
        p = nl ? nl + 1 : end;
        if (s == eol || *s == '#') continue;
        struct sample sm = {0};
        rc = sample_line(&r, s, eol, &sm);
        if (!rc) rc = take(&r, q, &sm, out, &set);
    }
    for (size_t i = 0; !rc && i < set.n; i++) {
        if (set.v[i].inf) continue;
        r.line = set.v[i].line;
        rc = fail(&r, "istio_request_duration_milliseconds series without its le=\"+Inf\" "
                      "bucket");
    }
    free(set.v);
    return rc;
}

int
scrape_http_get(const char *url, const char *path, int timeout_ms, int *status, struct strbuf *out,
                char *err, size_t cap)
{
    *status = 0;
    if (!strncmp(url, "https://", 8)) {
        snprintf(err, cap, "%s: https is not supported here", url);
        return -1;
    }
    /* http://IP:PORT/prefix: the prefix goes before <path> */
    const char *hp = !strncmp(url, "http://", 7) ? url + 7 : url;
    size_t hp_len = strcspn(hp, "/");
    const char *prefix = hp + hp_len;
    size_t prefix_len = strlen(prefix);
    while (prefix_len && prefix[prefix_len - 1] == '/') prefix_len--;
    char host[160], full[8192];
    if (!hp_len || hp_len >= sizeof(host) || prefix_len + strlen(path) >= sizeof(full)) {
        snprintf(err, cap, "'%s': expected http://IP:PORT", url);
        return -1;
    }
    snprintf(host, sizeof(host), "%.*s", (int)hp_len, hp);
    snprintf(full, sizeof(full), "%.*s%s", (int)prefix_len, prefix, path);
    if (strchr(host, ',')) {
        snprintf(err, cap, "'%s': one IP:PORT expected", host);
        return -1;
    }
    struct etcd_endpoint *ep = NULL;
    size_t n = 0;
    int rc = etcd_endpoints_parse(host, &ep, &n, err, cap);
    if (!rc) {
        /* never unbounded: a proxy that accepts and never answers would stop a rollout */
        uint64_t t = timeout_ms > 0 ? (uint64_t)timeout_ms : SCRAPE_DEFAULT_TIMEOUT_MS;
        rc = etcd_http_call(ep, n, "GET", full, NULL, 0, t, status, out, err, cap);
        if (!rc && out->truncated) {
            snprintf(err, cap, "%s: answer over %zu bytes", host, out->max_bytes);
            rc = -1;
        }
    }
    free(ep);
    return rc ? -1 : 0;
}

int
scrape_fetch_many(const char *hostport, int timeout_ms, const struct traffic_query *qs,
                  struct traffic *outs, size_t n, char *err, size_t cap)
{
    struct strbuf body;
    strbuf_init(&body, SCRAPE_MAX_BODY);
    int status,
        rc = scrape_http_get(hostport, "/stats/prometheus", timeout_ms, &status, &body, err, cap);
    if (!rc && status != 200) {
        snprintf(err, cap, "%s/stats/prometheus: HTTP %d", hostport, status);
        rc = -1;
    }
    for (size_t i = 0; !rc && i < n; i++) {
        char why[256];
        if (scrape_parse(strbuf_str(&body), body.len, &qs[i], &outs[i], why, sizeof(why))) {
            snprintf(err, cap, "%s/stats/prometheus: %s", hostport, why);
            rc = -1;
        }
    }
    strbuf_fini(&body);
    return rc;
}

int
scrape_fetch(const char *hostport, int timeout_ms, const struct traffic_query *q,
             struct traffic *out, char *err, size_t cap)
{
    return scrape_fetch_many(hostport, timeout_ms, q, out, 1, err, cap);
}

/* <t>'s cumulative count at <le>: at its largest bound <= le (0 below every bound). */
static double
count_at(const struct traffic *t, double le)
{
    double c = 0;
    for (size_t i = 0; i < t->n_bounds && t->bounds[i] <= le; i++) c = t->cum[i];
    return c;
}

void
traffic_add(struct traffic *into, const struct traffic *from)
{
    into->requests += from->requests;
    into->errors += from->errors;
    for (size_t i = 0; i < from->n_bounds; i++) add_bucket(into, from->bounds[i], from->cum[i]);
    into->cum[into->n_bounds] += from->cum[from->n_bounds];
}

struct traffic
traffic_delta(const struct traffic *now, const struct traffic *then)
{
    struct traffic d = *now;
    bool reset = now->requests < then->requests || now->errors < then->errors ||
                 now->cum[now->n_bounds] < then->cum[then->n_bounds];
    for (size_t i = 0; !reset && i < now->n_bounds; i++)
        reset = now->cum[i] < count_at(then, now->bounds[i]);
    if (reset) return d; /* a restart: every counter starts over, from zero */
    d.requests -= then->requests;
    d.errors -= then->errors;
    for (size_t i = 0; i < now->n_bounds; i++) d.cum[i] -= count_at(then, now->bounds[i]);
    d.cum[d.n_bounds] -= then->cum[then->n_bounds];
    return d;
}

double
traffic_quantile(const struct traffic *t, double q)
{
    if (isnan(q)) return NAN;
    if (q < 0) return -INFINITY;
    if (q > 1) return INFINITY;
    size_t n = t->n_bounds + 1; /* with +Inf */
    if (n < 2) return NAN;
    double c[TRAFFIC_MAX_BOUNDS + 1], max = -INFINITY;
    for (size_t i = 0; i < n; i++) { /* Prometheus evens out non-monotonic counts */
        c[i] = t->cum[i];
        if (c[i] > max)
            max = c[i];
        else if (c[i] < max)
            c[i] = max;
    }
    double total = c[n - 1];
    if (!(total > 0)) return NAN;
    double rank = q * total;
    size_t b = 0;
    while (b < n - 1 && c[b] < rank) b++;
    if (b == n - 1) return t->bounds[n - 2]; /* in +Inf: the largest finite bound */
    if (b == 0 && t->bounds[0] <= 0) return t->bounds[0];
    double start = 0, end = t->bounds[b], count = c[b];
    if (b > 0) {
        start = t->bounds[b - 1];
        count -= c[b - 1];
        rank -= c[b - 1];
    }
    return start + (end - start) * (rank / count);
}

struct window_stats
traffic_stats(const struct traffic *delta)
{
    struct window_stats w = {delta->requests, NAN, NAN, NAN};
    if (!(delta->requests > 0)) return w;
    double errors = delta->errors > delta->requests ? delta->requests : delta->errors;
    w.success_rate = 100.0 * (delta->requests - errors) / delta->requests;
    w.p99_ms = traffic_quantile(delta, 0.99);
    w.p50_ms = traffic_quantile(delta, 0.5);
    return w;
}
