/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the rollout's text readers. The first byte picks one:
 *   even: the rest is a Prometheus exposition for scrape_parse (then the quantiles, a
 *         delta and the window figures of what it read);
 *   odd:  the rest is YAML for vs_edit_weights; an edit that succeeds must read back, with
 *         vs_read_weights, as the weights written.
 * No crash, leak or undefined behaviour on any input. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "rollout/scrape.h"
#include "rollout/vs_edit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
scrape(const char *text, size_t len)
{
    static const struct traffic_query qs[] = {
        {"s", NULL, NULL},
        {"orders.prod.svc.cluster.local", "v2", "source"},
    };
    for (size_t i = 0; i < 2; i++) {
        struct traffic t = {0}, none = {0};
        char err[160];
        if (scrape_parse(text, len, &qs[i], &t, err, sizeof(err))) continue;
        if (t.n_bounds > TRAFFIC_MAX_BOUNDS || !(t.requests >= 0) || !(t.errors >= 0)) abort();
        for (size_t k = 1; k < t.n_bounds; k++)
            if (!(t.bounds[k - 1] < t.bounds[k])) abort();
        double p = traffic_quantile(&t, 0.99);
        if (t.cum[t.n_bounds] > 0 && t.n_bounds && !isnan(p) && p > t.bounds[t.n_bounds - 1])
            abort();
        struct traffic d = traffic_delta(&t, &none);
        struct window_stats w = traffic_stats(&d);
        if (w.requests > 0 && !(w.success_rate >= 0 && w.success_rate <= 100)) abort();
    }
}

static void
edit(const char *text, size_t len)
{
    static const struct dest_ref d[] = {{"a", "v1"}, {"a", "v2"}};
    static const int w[] = {37, 63};
    char err[256];
    struct strbuf out;
    strbuf_init(&out, 1u << 22);
    if (!vs_edit_weights(text, len, "r", NULL, NULL, d, w, 2, &out, err, sizeof(err))) {
        int back[2] = {-1, -1};
        if (vs_read_weights(out.data, out.len, "r", NULL, NULL, d, back, 2, err, sizeof(err)) ||
            back[0] != w[0] || back[1] != w[1]) {
            fprintf(stderr, "edit did not read back: %s\n", err);
            abort();
        }
    }
    strbuf_fini(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size) return 0;
    /* a copy of exactly the rest, so ASan sees any read past its end */
    char *text = malloc(size - 1 ? size - 1 : 1);
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    if (data[0] & 1)
        edit(text, size - 1);
    else
        scrape(text, size - 1);
    free(text);
    return 0;
}
