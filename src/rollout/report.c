/* SPDX-License-Identifier: Apache-2.0 */
/* A rollout's progress as text, JSON events and the dashboard's status object. */
#include "rollout/report.h"

#include <math.h>
#include <string.h>
#include <time.h>

static void
json_num(struct strbuf *sb, double v, const char *fmt)
{
    if (isfinite(v))
        strbuf_printf(sb, fmt, v);
    else
        strbuf_puts(sb, "null");
}

static void
json_stats(struct strbuf *sb, const struct window_stats *w)
{
    strbuf_puts(sb, "{\"requests\":");
    json_num(sb, w->requests, "%.0f");
    strbuf_puts(sb, ",\"success_rate\":");
    json_num(sb, w->success_rate, "%.3f");
    strbuf_puts(sb, ",\"p50_ms\":");
    json_num(sb, w->p50_ms, "%.3f");
    strbuf_puts(sb, ",\"p99_ms\":");
    json_num(sb, w->p99_ms, "%.3f");
    strbuf_puts(sb, "}");
}

static void
json_dest(struct strbuf *sb, const struct dest_ref *d)
{
    strbuf_puts(sb, "{\"host\":");
    strbuf_json_str(sb, d->host);
    strbuf_puts(sb, ",\"subset\":");
    strbuf_json_str(sb, d->subset);
    strbuf_puts(sb, "}");
}

static void
status_fields(const struct rollout_view *v, struct strbuf *sb)
{
    const struct rollout_plan *p = v->plan;
    strbuf_puts(sb, "\"name\":");
    strbuf_json_str(sb, p->name);
    strbuf_puts(sb, ",\"virtualService\":");
    strbuf_json_str(sb, p->vs);
    strbuf_puts(sb, ",\"route\":");
    strbuf_json_str(sb, p->route);
    strbuf_puts(sb, ",\"phase\":");
    strbuf_json_str(sb, rollout_phase_name(v->phase));
    strbuf_printf(sb, ",\"step\":%d,\"steps\":[", v->step + 1);
    for (size_t i = 0; i < p->n_steps; i++) strbuf_printf(sb, "%s%d", i ? "," : "", p->weight[i]);
    strbuf_printf(sb, "],\"weight\":%d,\"stable\":", v->weight);
    json_dest(sb, &p->stable);
    strbuf_puts(sb, ",\"canary\":");
    json_dest(sb, &p->canary);
    size_t s = v->step >= 0 && (size_t)v->step < p->n_steps ? (size_t)v->step : 0;
    strbuf_printf(sb, ",\"elapsed_s\":%.1f,\"min_time_s\":%.1f,\"canary_requests\":", v->elapsed_s,
                  (double)p->min_ms[s] / 1000.0);
    json_num(sb, v->canary.requests, "%.0f");
    strbuf_printf(sb, ",\"min_requests\":%llu,\"stats\":{\"stable\":",
                  (unsigned long long)p->min_requests[s]);
    json_stats(sb, &v->stable);
    strbuf_puts(sb, ",\"canary\":");
    json_stats(sb, &v->canary);
    strbuf_puts(sb, "},\"checks\":[");
    for (size_t i = 0; i < v->n_checks; i++) {
        const struct check_outcome *c = &v->checks[i];
        strbuf_puts(sb, i ? ",{\"name\":" : "{\"name\":");
        strbuf_json_str(sb, c->name);
        strbuf_printf(sb, ",\"ok\":%s,\"known\":%s,\"detail\":", c->ok ? "true" : "false",
                      c->known ? "true" : "false");
        strbuf_json_str(sb, c->detail);
        strbuf_puts(sb, "}");
    }
    strbuf_puts(sb, "],\"message\":");
    strbuf_json_str(sb, v->message ? v->message : "");
    strbuf_printf(sb, ",\"updated_unix\":%lld", (long long)time(NULL));
}

void
report_status_json(const struct rollout_view *v, struct strbuf *sb)
{
    strbuf_puts(sb, "{");
    status_fields(v, sb);
    strbuf_puts(sb, "}");
}

void
report_event(FILE *out, const char *event, const struct rollout_view *v)
{
    struct strbuf sb;
    strbuf_init(&sb, 1 << 20);
    strbuf_puts(&sb, "{\"event\":");
    strbuf_json_str(&sb, event);
    strbuf_puts(&sb, ",");
    status_fields(v, &sb);
    strbuf_puts(&sb, "}\n");
    fputs(strbuf_str(&sb), out);
    fflush(out);
    strbuf_fini(&sb);
}

/* "[#####.....]" for <done> of 1. */
static void
bar(char *out, size_t width, double done)
{
    if (!(done >= 0)) done = 0;
    if (done > 1) done = 1;
    size_t fill = (size_t)(done * (double)width + 0.5);
    out[0] = '[';
    for (size_t i = 0; i < width; i++) out[1 + i] = i < fill ? '#' : '.';
    out[1 + width] = ']';
    out[2 + width] = 0;
}

/* "0.42ms", "12ms": a latency with the digits that matter (static buffer). */
static const char *
ms_text(double ms)
{
    static char buf[32];
    snprintf(buf, sizeof(buf), ms < 10 ? "%.2fms" : "%.0fms", ms);
    return buf;
}

/* "99.9% p99 12ms" of one version. */
static void
figures(char *out, size_t cap, const struct window_stats *w)
{
    char sr[16] = "-", p99[32] = "-";
    if (isfinite(w->success_rate)) snprintf(sr, sizeof(sr), "%.1f%%", w->success_rate);
    if (isfinite(w->p99_ms)) snprintf(p99, sizeof(p99), "%s", ms_text(w->p99_ms));
    snprintf(out, cap, "%s p99 %s", sr, p99);
}

/* The version's name in lines: its subset, else its host. */
static const char *
who(const struct dest_ref *d)
{
    return *d->subset ? d->subset : d->host;
}

void
report_line(FILE *out, bool tty, bool final, const struct rollout_view *v)
{
    if (!tty && !final) return;
    const struct rollout_plan *p = v->plan;
    size_t s = v->step >= 0 && (size_t)v->step < p->n_steps ? (size_t)v->step : 0;
    double min_s = (double)p->min_ms[s] / 1000.0;
    double req = isfinite(v->canary.requests) ? v->canary.requests : 0;
    char tb[16], qb[16], st[64], ca[64];
    bar(tb, 10, min_s > 0 ? v->elapsed_s / min_s : 1);
    bar(qb, 10, p->min_requests[s] ? req / (double)p->min_requests[s] : 1);
    figures(st, sizeof(st), &v->stable);
    figures(ca, sizeof(ca), &v->canary);
    const char *verdict = "";
    for (size_t i = 0; i < v->n_checks; i++)
        if (v->checks[i].known && !v->checks[i].ok) verdict = "  FAIL";
    fprintf(out,
            "%sstep %d/%zu %3d%% %s  time %s %.0f/%.0fs  requests %s %.0f/%llu  %s %s | %s %s%s%s",
            tty ? "\r\033[K" : "", v->step + 1, p->n_steps, v->weight, who(&p->canary), tb,
            v->elapsed_s, min_s, qb, req, (unsigned long long)p->min_requests[s], who(&p->stable),
            st, who(&p->canary), ca, verdict, final ? "\n" : "");
    fflush(out);
}

/* "requests ok p99" of one version in a summary row. */
static void
cells(char *out, size_t cap, const struct window_stats *w)
{
    char ok[16] = "-", p99[32] = "-";
    if (isfinite(w->success_rate)) snprintf(ok, sizeof(ok), "%.1f%%", w->success_rate);
    if (isfinite(w->p99_ms)) snprintf(p99, sizeof(p99), "%s", ms_text(w->p99_ms));
    snprintf(out, cap, "%9.0f %7s %7s", isfinite(w->requests) ? w->requests : 0, ok, p99);
}

void
report_summary(FILE *out, const struct rollout_view *steps, size_t n,
               const struct rollout_view *end)
{
    const struct rollout_plan *p = end->plan;
    fprintf(out, "\nrollout %s: %s\n", p->name, rollout_phase_name(end->phase));
    fprintf(out, "  step weight    time | %-25s | %s\n", who(&p->stable), who(&p->canary));
    fprintf(out, "                      | %9s %7s %7s | %9s %7s %7s\n", "requests", "ok", "p99",
            "requests", "ok", "p99");
    for (size_t i = 0; i < n; i++) {
        char st[64], ca[64];
        cells(st, sizeof(st), &steps[i].stable);
        cells(ca, sizeof(ca), &steps[i].canary);
        fprintf(out, "  %4d %5d%% %6.1fs | %s | %s\n", steps[i].step + 1, steps[i].weight,
                steps[i].elapsed_s, st, ca);
    }
    if (end->message && *end->message) fprintf(out, "  %s\n", end->message);
    fflush(out);
}
