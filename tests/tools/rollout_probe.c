/* SPDX-License-Identifier: Apache-2.0 */
/* Test-only door to rollout/scrape.h for the e2e tests, which compare the window figures
 * from the proxies' own counters with Prometheus's:
 *
 *   rollout-probe delta HOST:PORT SERVICE VERSION REPORTER
 *       scrape, print "ready", wait for a line on stdin, scrape again, print the delta's
 *       figures as JSON
 *   rollout-probe promql URL SERVICE VERSION REPORTER WINDOW_S
 *       print promql_window's figures as JSON
 *
 * VERSION or REPORTER "-" means any. NAN prints as null. Exit 1 with the error on stderr. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollout/scrape.h"

static void
number(const char *name, double v, const char *sep)
{
    if (isnan(v))
        printf("\"%s\": null%s", name, sep);
    else
        printf("\"%s\": %.17g%s", name, v, sep);
}

static void
print(const struct window_stats *w)
{
    printf("{");
    number("requests", w->requests, ", ");
    number("success_rate", w->success_rate, ", ");
    number("p99_ms", w->p99_ms, ", ");
    number("p50_ms", w->p50_ms, "}\n");
    fflush(stdout);
}

int
main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr,
                "usage: rollout-probe delta|promql ADDR SERVICE VERSION REPORTER [WINDOW_S]\n");
        return 2;
    }
    struct traffic_query q = {argv[3], strcmp(argv[4], "-") ? argv[4] : NULL,
                              strcmp(argv[5], "-") ? argv[5] : NULL};
    char err[256];
    struct window_stats w;
    if (!strcmp(argv[1], "promql") && argc == 7) {
        if (promql_window(argv[2], &q, (unsigned)atoi(argv[6]), 10000, &w, err, sizeof(err))) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        print(&w);
        return 0;
    }
    if (strcmp(argv[1], "delta")) return 2;
    struct traffic then = {0}, now = {0};
    if (scrape_fetch(argv[2], 10000, &q, &then, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof(line), stdin)) return 1;
    if (scrape_fetch(argv[2], 10000, &q, &now, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct traffic d = traffic_delta(&now, &then);
    w = traffic_stats(&d);
    print(&w);
    return 0;
}
