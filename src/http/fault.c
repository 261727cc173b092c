/* SPDX-License-Identifier: Apache-2.0 */
#include "http/fault.h"

#include "core/prng.h"
#include "model/model.h"

bool
fault_sampled(uint32_t ppm)
{
    return ppm >= 1000000 || prng_next() % 1000000 < ppm;
}

uint64_t
fault_delay_ms(const struct model_route *r)
{
    if (!r->fault_delay_ppm || !fault_sampled(r->fault_delay_ppm)) return 0;
    return r->fault_delay_ms ? r->fault_delay_ms : 1; /* a zero delay still goes by the timer */
}

bool
fault_aborts(const struct model_route *r)
{
    return r->fault_abort_ppm && fault_sampled(r->fault_abort_ppm);
}
