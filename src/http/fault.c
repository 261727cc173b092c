/* SPDX-License-Identifier: Apache-2.0 */
#include "http/fault.h"

#include <stdio.h>

#include "core/now.h"
#include "core/prng.h"
#include "http/conn.h"
#include "http/metrics.h"
#include "http/req.h"
#include "http/worker.h"
#include "model/model.h"

bool
fault_sampled(uint32_t ppm)
{
    return ppm >= 1000000 || prng_next() % 1000000 < ppm;
}

bool
fault_delay(struct req *q, const struct model_route *r, void (*done)(struct wheel_timer *))
{
    if (!r->fault_delay_ppm || !fault_sampled(r->fault_delay_ppm)) return false;
    q->flags |= RF_DI;
    q->fault_delayed = true;
    q->timer.cb = done;
    wheel_arm(&q->conn->wk->loop.wheel, &q->timer, now_ms() + r->fault_delay_ms);
    return true;
}

bool
fault_abort(struct req *q, const struct model_route *r)
{
    if (!r->fault_abort_ppm || !fault_sampled(r->fault_abort_ppm)) return false;
    q->flags |= RF_FI;
    if (r->fault_abort_status > 0) {
        req_reply(q, r->fault_abort_status, NULL, 0, "fault filter abort");
        return true;
    }
    /* A gRPC abort: HTTP 200 with grpc-status and grpc-message, no body. */
    char code[16];
    int n = snprintf(code, sizeof(code), "%d", r->fault_abort_grpc);
    struct h1_header f[3] = {
        {SLICE_LIT("content-type"), SLICE_LIT("application/grpc")},
        {SLICE_LIT("grpc-status"), slice_make(code, n > 0 ? (size_t)n : 0)},
        {SLICE_LIT("grpc-message"), SLICE_LIT("fault filter abort")},
    };
    struct local_reply lr = {.status = 200, .fields = f, .n_fields = 3};
    q->status = 200;
    req_local(q, &lr);
    return true;
}
