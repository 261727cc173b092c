/* SPDX-License-Identifier: Apache-2.0 */
#include "http/retry.h"

#include "core/compiler.h"
#include "core/now.h"
#include "core/prng.h"
#include "http/conn.h"
#include "http/metrics.h"
#include "http/req.h"
#include "http/upstream.h"
#include "lb/outlier.h"
#include "model/endpoint.h"

bool
retry_on_outcome(const struct model_route *r, enum retry_outcome what, int status)
{
    uint32_t on = r->retry_on;
    switch (what) {
    case RETRY_CONNECT_FAILURE:
        return on & (MODEL_RETRY_CONNECT_FAILURE | MODEL_RETRY_RESET | MODEL_RETRY_5XX |
                     MODEL_RETRY_GATEWAY_ERROR);
    case RETRY_RESET: return on & (MODEL_RETRY_RESET | MODEL_RETRY_5XX | MODEL_RETRY_GATEWAY_ERROR);
    case RETRY_RESPONSE:
        if ((on & MODEL_RETRY_5XX) && status >= 500 && status <= 599) return true;
        if ((on & MODEL_RETRY_GATEWAY_ERROR) && status >= 502 && status <= 504) return true;
        if ((on & MODEL_RETRY_RETRIABLE_4XX) && status == 409) return true;
        for (size_t i = 0; (on & MODEL_RETRY_STATUS_CODES) && i < r->n_retry_codes; i++)
            if (r->retry_codes[i] == status) return true;
        return false;
    }
    return false;
}

uint64_t
retry_backoff_window_ms(uint64_t base_ms, uint32_t n)
{
    uint64_t window = ((1ull << (n < 10 ? n : 10)) - 1) * base_ms;
    return window < 10 * base_ms ? window : 10 * base_ms;
}

bool
retry_should(struct req *q, enum retry_outcome what, int code)
{
    const struct model_route *r = q->route;
    if (!r || !r->retry_attempts || !q->replay || q->resp_head) return false;
    if (!retry_on_outcome(r, what, code)) return false;
    if (q->attempt > r->retry_attempts) {
        q->flags |= RF_URX; /* the policy would retry, but no try is left */
        return false;
    }
    if (q->body != REQ_BODY_NONE && !q->body_kept) return false; /* past the limit */
    const struct model_cluster *cl = q->dest ? q->dest->cluster : NULL;
    if (cl && cl->limits.any && !q->counts_retry &&
        atomic_load_explicit(&cl->state->retries, memory_order_relaxed) >= cl->limits.max_retries) {
        metrics_upstream(q->conn->wk->metrics, cl->state, UP_RETRY_OVERFLOW);
        return false; /* http.maxRetries: retries in flight on the pool */
    }
    return true;
}

static void
on_retry_wait(struct wheel_timer *t)
{
    struct req *q = container_of(t, struct req, retry_wait);
    struct conn *c = q->conn;
    req_try_start(q, q->dest->cluster);
    if (!c->closed) c->ops->pump(c);
}

/* perTryTimeout: before any response byte went to the client the try is cut and, as a
 * reset, retried when the policy retries resets (5xx, gateway-error, reset); else 504. */
static void
on_try_timeout(struct wheel_timer *t)
{
    struct req *q = container_of(t, struct req, try_timer);
    struct conn *c = q->conn;
    if (q->resp_head) return;
    struct upstream *u = q->up;
    if (u) {
        outlier_local(u->cluster, u->endpoint, OUTLIER_TIMEOUT, now_ms());
        metrics_upstream(c->wk->metrics, u->pstate, UP_TIMEOUT);
        metrics_upstream_code(c->wk->metrics, u->cluster, u->endpoint, 504);
    }
    if (retry_should(q, RETRY_RESET, 0)) {
        retry_next(q);
    } else {
        q->flags |= RF_UT;
        req_abort(q, 504, "upstream request timeout");
    }
    if (!c->closed) c->ops->pump(c);
}

void
retry_arm_try_timer(struct req *q)
{
    q->try_timer.cb = on_try_timeout;
    wheel_arm(&q->conn->wk->loop.wheel, &q->try_timer, now_ms() + q->route->retry_per_try_ms);
}

/* Envoy's fully jittered exponential back-off (base 25 ms: 0-24 ms, then 0-49 ms, ..., at
 * most 10x the base). */
void
retry_next(struct req *q)
{
    struct worker *wk = q->conn->wk;
    req_release_upstream(q, false);
    wheel_disarm(&wk->loop.wheel, &q->try_timer);
    const struct model_cluster *cl = q->dest ? q->dest->cluster : NULL;
    if (cl && cl->limits.any && !q->counts_retry) {
        atomic_fetch_add_explicit(&cl->state->retries, 1, memory_order_relaxed);
        q->counts_retry = true;
        q->counted = cl;
    }
    if (cl) metrics_upstream(wk->metrics, cl->state, UP_RETRY);
    uint64_t span = retry_backoff_window_ms(q->route->retry_backoff_ms, q->attempt);
    q->attempt++;
    q->retry_wait.cb = on_retry_wait;
    wheel_arm(&wk->loop.wheel, &q->retry_wait, now_ms() + prng_next() % span);
}
