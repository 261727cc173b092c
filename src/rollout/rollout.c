/* SPDX-License-Identifier: Apache-2.0 */
/* The step machine: write a weight (state saved before and after), wait until every proxy
 * has it, watch the step's window, go on or roll back. */
#include "rollout/rollout.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/now.h"
#include "core/strbuf.h"
#include "rollout/proxies.h"
#include "rollout/report.h"

#define SCRAPE_TIMEOUT_MS 2000
#define MAX_BLIND_TICKS 10 /* ticks in a row without metrics before giving up */
#define APPLY_POLL_MS 100

struct run_ctx {
    struct rollout_run *r;
    struct rollout_view view;
    struct traffic base_stable[64], base_canary[64]; /* per proxy, at the step's start */
    double base_picked[64]; /* each proxy's canary picks at the step's start */
    uint64_t step_start_ms;
    char message[1024];
    struct rollout_view done[ROLLOUT_MAX_STEPS + 1]; /* each step's last view, for the summary */
    size_t n_done;
};

static void
summary(struct run_ctx *c)
{
    if (c->r->output == ROLLOUT_OUT_TEXT) report_summary(stdout, c->done, c->n_done, &c->view);
}

static void
sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Save the state (under the store's lock when the caller holds it). */
static int
save(struct run_ctx *c, enum rollout_phase phase, int step, int weight, const char *msg)
{
    struct rollout_state s = {
        .phase = phase,
        .step = step,
        .weight = weight,
        .pid = rollout_phase_final(phase) || phase == ROLLOUT_PAUSED ? 0 : (int)getpid(),
        .updated_unix = (int64_t)time(NULL)};
    snprintf(s.message, sizeof(s.message), "%s", msg ? msg : "");
    char err[512];
    if (c->r->store->save(c->r->store->arg, &s, err, sizeof(err))) {
        fprintf(stderr, "rollout: cannot save the state: %s\n", err);
        return -1;
    }
    return 0;
}

static void
publish(struct run_ctx *c, const char *event)
{
    struct strbuf sb;
    strbuf_init(&sb, 1 << 20);
    report_status_json(&c->view, &sb);
    proxies_post_status(c->r->plan, sb.data ? sb.data : "{}", sb.len);
    strbuf_fini(&sb);
    if (c->r->output == ROLLOUT_OUT_JSON && event) report_event(stdout, event, &c->view);
}

/* The state another process may have changed (abort). */
static bool
aborted(struct run_ctx *c)
{
    struct rollout_state s;
    char err[256];
    return c->r->store->load(c->r->store->arg, &s, err, sizeof(err)) == 1 &&
           s.phase == ROLLOUT_ABORTED;
}

/* Write <weight> as the transition into step <step>, under the lock. 0, 1 when aborted
 * meanwhile, -1 on error (said). */
static int
write_step(struct run_ctx *c, int step, int weight, enum rollout_phase after, const char *msg)
{
    struct rollout_store *st = c->r->store;
    char err[512];
    if (st->lock(st->arg, err, sizeof(err))) {
        fprintf(stderr, "rollout: %s\n", err);
        return -1;
    }
    int rc = 0;
    if (aborted(c)) {
        rc = 1;
    } else if (save(c, ROLLOUT_APPLYING, step, weight, msg) ||
               st->write_weight(st->arg, weight, err, sizeof(err)) ||
               save(c, after, step, weight, msg)) {
        if (*err) fprintf(stderr, "rollout: cannot write the weights: %s\n", err);
        rc = -1;
    }
    st->unlock(st->arg);
    return rc;
}

/* Wait until every proxy routes with <weight>: 0, or -1 with why in c->message. */
static int
wait_in_force(struct run_ctx *c, int weight)
{
    const struct rollout_plan *p = c->r->plan;
    uint64_t deadline = now_ms() + p->apply_timeout_ms;
    char err[512] = "";
    for (;;) {
        size_t ok = 0;
        for (size_t i = 0; i < p->n_metrics; i++) {
            int rc = proxies_weight_in_force(p->metrics[i], p, weight, err, sizeof(err));
            if (rc == 1) ok++;
        }
        if (ok == p->n_metrics) return 0;
        if (now_ms() >= deadline || (c->r->interrupted && *c->r->interrupted)) break;
        sleep_ms(APPLY_POLL_MS);
    }
    snprintf(c->message, sizeof(c->message),
             "the proxies did not put %d%% canary in force within %llu ms%s%s", weight,
             (unsigned long long)p->apply_timeout_ms, *err ? ": " : "", err);
    return -1;
}

/* Every proxy's counters now, for both destinations. 0, or -1 with why in <err>. */
static int
read_all(const struct rollout_plan *p, struct traffic *stable, struct traffic *canary, char *err,
         size_t cap)
{
    for (size_t i = 0; i < p->n_metrics; i++) {
        struct traffic both[2] = {{0}};
        const struct traffic_query qs[2] = {p->q_stable, p->q_canary};
        if (scrape_fetch_many(p->metrics[i], SCRAPE_TIMEOUT_MS, qs, both, 2, err, cap)) return -1;
        stable[i] = both[0];
        canary[i] = both[1];
    }
    return 0;
}

/* Each proxy's canary picks now (/splits). 0, or -1 with why in <err>. */
static int
read_picks(const struct rollout_plan *p, double *picked, char *err, size_t cap)
{
    for (size_t i = 0; i < p->n_metrics; i++) {
        struct proxy_route pr;
        if (proxies_read_route(p->metrics[i], p, &pr, err, cap)) return -1;
        picked[i] = pr.picked_canary;
    }
    return 0;
}

/* The canary's picks since the step's start, summed over the proxies (a proxy whose
 * counters went down reloaded: its picks count from zero). */
static int
picked_since(struct run_ctx *c, double *out, char *err, size_t cap)
{
    double now[64];
    if (read_picks(c->r->plan, now, err, cap)) return -1;
    *out = 0;
    for (size_t i = 0; i < c->r->plan->n_metrics; i++)
        *out += now[i] >= c->base_picked[i] ? now[i] - c->base_picked[i] : now[i];
    return 0;
}

/* The step's window so far into c->view. 0, or -1 with why in <err>. */
static int
window(struct run_ctx *c, double *answered, char *err, size_t cap)
{
    const struct rollout_plan *p = c->r->plan;
    /* The proxies' own counters always: what the canary answered, for the reach check, is
     * theirs even when Prometheus (a scrape behind) judges the rest. */
    struct traffic now_s[64], now_c[64], sum_s, sum_c;
    if (read_all(p, now_s, now_c, err, cap)) return -1;
    memset(&sum_s, 0, sizeof(sum_s));
    memset(&sum_c, 0, sizeof(sum_c));
    for (size_t i = 0; i < p->n_metrics; i++) {
        struct traffic ds = traffic_delta(&now_s[i], &c->base_stable[i]);
        struct traffic dc = traffic_delta(&now_c[i], &c->base_canary[i]);
        traffic_add(&sum_s, &ds);
        traffic_add(&sum_c, &dc);
    }
    *answered = sum_c.requests;
    if (p->prometheus) {
        unsigned secs = (unsigned)((now_ms() - c->step_start_ms + 999) / 1000);
        if (secs < 1) secs = 1;
        if (promql_window(p->prometheus, &p->q_stable, secs, SCRAPE_TIMEOUT_MS, &c->view.stable,
                          err, cap) ||
            promql_window(p->prometheus, &p->q_canary, secs, SCRAPE_TIMEOUT_MS, &c->view.canary,
                          err, cap))
            return -1;
        return 0;
    }
    c->view.stable = traffic_stats(&sum_s);
    c->view.canary = traffic_stats(&sum_c);
    return 0;
}

/* Back to 100% stable, state <phase> with <why>. */
static void
roll_back(struct run_ctx *c, enum rollout_phase phase, const char *why)
{
    struct rollout_store *st = c->r->store;
    char err[512] = "";
    if (why != c->message) snprintf(c->message, sizeof(c->message), "%s", why);
    bool locked = !st->lock(st->arg, err, sizeof(err));
    if (st->write_weight(st->arg, 0, err, sizeof(err)))
        fprintf(stderr, "rollout: cannot restore 100%% stable: %s\n", err);
    save(c, phase, c->view.step, 0, c->message);
    if (locked) st->unlock(st->arg);
    c->view.phase = phase;
    c->view.weight = 0;
    c->view.message = c->message;
    publish(c, rollout_phase_name(phase));
}

enum step_end { STEP_PASSED, STEP_FAILED, STEP_STOPPED, STEP_ERROR };

static enum step_end
observe(struct run_ctx *c, size_t step)
{
    const struct rollout_plan *p = c->r->plan;
    char err[512] = "";
    if (read_all(p, c->base_stable, c->base_canary, err, sizeof(err)) ||
        read_picks(p, c->base_picked, err, sizeof(err))) {
        snprintf(c->message, sizeof(c->message), "metrics: %s", err);
        return STEP_ERROR;
    }
    c->step_start_ms = now_ms();
    int blind = 0;
    unsigned failed = 0; /* evaluations in a row with a failing check */
    for (;;) {
        sleep_ms(p->interval_ms);
        if (c->r->interrupted && *c->r->interrupted) return STEP_STOPPED;
        if (aborted(c)) {
            snprintf(c->message, sizeof(c->message), "aborted by `meshlet rollout abort`");
            return STEP_STOPPED;
        }
        c->view.elapsed_s = (double)(now_ms() - c->step_start_ms) / 1000.0;
        double picked = 0, answered = 0;
        if (window(c, &answered, err, sizeof(err)) || picked_since(c, &picked, err, sizeof(err))) {
            if (++blind >= MAX_BLIND_TICKS) {
                snprintf(c->message, sizeof(c->message), "no metrics for %d checks in a row: %s",
                         blind, err);
                return STEP_ERROR;
            }
            continue;
        }
        blind = 0;
        bool enough = c->view.canary.requests >= (double)p->min_requests[step] ||
                      picked >= (double)p->min_requests[step]; /* UH: routed, not answered */
        c->view.n_checks = 0;
        bool ok = analysis_run(&p->checks, &c->view.stable, &c->view.canary, c->view.checks,
                               &c->view.n_checks);
        struct check_outcome *reach = &c->view.checks[c->view.n_checks++];
        analysis_reach(picked, answered, (double)p->min_requests[step], reach);
        ok = ok && reach->ok;
        publish(c, "progress");
        report_line(stdout, c->r->output == ROLLOUT_OUT_TEXT && c->r->tty, false, &c->view);
        if (!enough) continue;
        failed = ok ? 0 : failed + 1;
        if (!ok && failed >= p->failure_threshold) {
            size_t n = 0;
            for (size_t i = 0; i < c->view.n_checks; i++) {
                const struct check_outcome *o = &c->view.checks[i];
                if (!o->known || o->ok) continue;
                n += (size_t)snprintf(c->message + n,
                                      n < sizeof(c->message) ? sizeof(c->message) - n : 0,
                                      "%s%s: %s", n ? "; " : "", o->name, o->detail);
                if (n >= sizeof(c->message)) break;
            }
            if (failed > 1 && n < sizeof(c->message))
                snprintf(c->message + n, sizeof(c->message) - n, " (%u evaluations in a row)",
                         failed);
            return STEP_FAILED;
        }
        if (!ok) continue; /* failing, but fewer times in a row than the threshold */
        bool waiting = c->view.canary.requests < (double)p->min_requests[step];
        for (size_t i = 0; i < c->view.n_checks; i++) waiting |= c->view.checks[i].waiting;
        if (!waiting && c->view.elapsed_s * 1000.0 >= (double)p->min_ms[step]) return STEP_PASSED;
    }
}

static int
finish(struct run_ctx *c, enum step_end end)
{
    bool text = c->r->output == ROLLOUT_OUT_TEXT;
    if (text && c->view.phase == ROLLOUT_OBSERVING) report_line(stdout, c->r->tty, true, &c->view);
    if (c->view.phase == ROLLOUT_OBSERVING && c->n_done < ROLLOUT_MAX_STEPS + 1)
        c->done[c->n_done++] = c->view;
    switch (end) {
    case STEP_FAILED:
        roll_back(c, ROLLOUT_ROLLED_BACK, c->message);
        summary(c);
        fprintf(stderr, "rollout %s: rolled back to 100%% %s at step %d (%d%% canary): %s\n",
                c->r->plan->name, c->r->plan->stable.subset, c->view.step + 1,
                c->r->plan->weight[c->view.step], c->message);
        return ROLLOUT_EXIT_ROLLED_BACK;
    case STEP_ERROR:
        roll_back(c, ROLLOUT_FAILED, c->message);
        summary(c);
        fprintf(stderr, "rollout %s: stopped, 100%% %s again: %s\n", c->r->plan->name,
                c->r->plan->stable.subset, c->message);
        return ROLLOUT_EXIT_ROLLED_BACK;
    case STEP_STOPPED:
        if (*c->message) { /* aborted: `abort` wrote the weights and the state */
            c->view.phase = ROLLOUT_ABORTED;
            fprintf(stderr, "rollout %s: %s\n", c->r->plan->name, c->message);
        } else {
            snprintf(c->message, sizeof(c->message),
                     "interrupted at step %d (%d%% canary); `meshlet rollout resume` continues, "
                     "`abort` restores 100%% stable",
                     c->view.step + 1, c->view.weight);
            save(c, ROLLOUT_PAUSED, c->view.step, c->view.weight, c->message);
            c->view.phase = ROLLOUT_PAUSED;
            fprintf(stderr, "rollout %s: %s\n", c->r->plan->name, c->message);
        }
        c->view.message = c->message;
        publish(c, rollout_phase_name(c->view.phase));
        summary(c);
        return ROLLOUT_EXIT_STOPPED;
    case STEP_PASSED: break;
    }
    return 0;
}

int
rollout_execute(struct rollout_run *r, int from)
{
    struct run_ctx *c = calloc(1, sizeof(*c));
    if (!c) return 1;
    const struct rollout_plan *p = r->plan;
    c->r = r;
    c->view.plan = p;
    c->view.message = c->message;
    c->view.stable.success_rate = c->view.canary.success_rate = NAN;
    c->view.stable.p99_ms = c->view.canary.p99_ms = NAN;
    c->view.stable.p50_ms = c->view.canary.p50_ms = NAN;
    int rc = 0;
    for (size_t i = (size_t)from; i < p->n_steps; i++) {
        c->view.step = (int)i;
        c->view.weight = p->weight[i];
        c->view.phase = ROLLOUT_APPLYING;
        c->view.elapsed_s = 0;
        c->view.n_checks = 0;
        char msg[64];
        snprintf(msg, sizeof(msg), "step %zu/%zu: %d%% canary", i + 1, p->n_steps, p->weight[i]);
        int w = write_step(c, (int)i, p->weight[i], ROLLOUT_OBSERVING, msg);
        if (w == 1) {
            snprintf(c->message, sizeof(c->message), "aborted by `meshlet rollout abort`");
            rc = finish(c, STEP_STOPPED);
            goto out;
        }
        if (w < 0 || wait_in_force(c, p->weight[i])) {
            if (w < 0) snprintf(c->message, sizeof(c->message), "could not write the weights");
            bool stop = w >= 0 && c->r->interrupted && *c->r->interrupted;
            if (stop) c->message[0] = 0; /* Ctrl-C while waiting: a pause, not a failure */
            rc = finish(c, stop ? STEP_STOPPED : STEP_ERROR);
            goto out;
        }
        c->view.phase = ROLLOUT_OBSERVING;
        snprintf(c->message, sizeof(c->message), "%s", msg);
        publish(c, "step");
        c->message[0] = 0;
        enum step_end end = observe(c, i);
        rc = finish(c, end);
        if (end != STEP_PASSED) goto out;
    }
    /* Steps that stop short of 100 end with the cutover. */
    if (!p->n_steps || p->weight[p->n_steps - 1] != 100) {
        c->view.weight = 100;
        if (write_step(c, (int)p->n_steps - 1, 100, ROLLOUT_OBSERVING, "cutover") ||
            wait_in_force(c, 100)) {
            rc = finish(c, STEP_ERROR);
            goto out;
        }
    }
    snprintf(c->message, sizeof(c->message), "100%% %s%s%s", p->canary.host,
             *p->canary.subset ? " subset " : "", p->canary.subset);
    save(c, ROLLOUT_SUCCEEDED, (int)p->n_steps - 1, 100, c->message);
    c->view.phase = ROLLOUT_SUCCEEDED;
    c->view.weight = 100;
    publish(c, "succeeded");
    summary(c);
out:
    free(c);
    return rc;
}

int
rollout_abort(const struct rollout_plan *plan, struct rollout_store *st, char *err, size_t cap)
{
    (void)plan;
    if (st->lock(st->arg, err, cap)) return -1;
    struct rollout_state s;
    int found = st->load(st->arg, &s, err, cap);
    int rc = -1;
    if (found < 0) goto out;
    if (st->write_weight(st->arg, 0, err, cap)) goto out;
    if (found == 0) memset(&s, 0, sizeof(s));
    s.phase = ROLLOUT_ABORTED;
    s.weight = 0;
    s.pid = 0;
    s.updated_unix = (int64_t)time(NULL);
    snprintf(s.message, sizeof(s.message), "aborted by `meshlet rollout abort`: 100%% stable");
    rc = st->save(st->arg, &s, err, cap);
out:
    st->unlock(st->arg);
    return rc;
}
