/* SPDX-License-Identifier: Apache-2.0 */
#include "http/retry.h"

#include "http/conn.h"
#include "http/metrics.h"
#include "http/req.h"
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
    case RETRY_GRPC: return retry_on_grpc(r, status);
    case RETRY_REFUSED:
        return on & (MODEL_RETRY_REFUSED_STREAM | MODEL_RETRY_RESET | MODEL_RETRY_5XX |
                     MODEL_RETRY_GATEWAY_ERROR);
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

bool
retry_on_grpc(const struct model_route *r, int grpc)
{
    uint32_t on = r->retry_on;
    switch (grpc) {
    case 1: return on & MODEL_RETRY_GRPC_CANCELLED;
    case 4: return on & MODEL_RETRY_GRPC_DEADLINE_EXCEEDED;
    case 8: return on & MODEL_RETRY_GRPC_RESOURCE_EXHAUSTED;
    case 13: return on & MODEL_RETRY_GRPC_INTERNAL;
    case 14: return on & MODEL_RETRY_GRPC_UNAVAILABLE;
    default: return false;
    }
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
