/* SPDX-License-Identifier: Apache-2.0 */
/* Rollout (meshlet.io/v1alpha1) validation and its check against the VirtualService. */
#include "config_case.h"

#define RO_HEAD                                                                                    \
    "apiVersion: meshlet.io/v1alpha1\nkind: Rollout\nmetadata: {name: r, namespace: shop}\n"
#define DESTS                                                                                      \
    "  virtualService: web\n  stable: {host: web, subset: v1}\n  canary: {host: web, subset: "     \
    "v2}\n"
#define RO(spec) RO_HEAD "spec:\n" spec
#define VS(route_name, second)                                                                     \
    "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web, "        \
    "namespace: shop}\nspec:\n  hosts: [web]\n  http:\n  - name: " route_name "\n    route:\n"     \
    "    - destination: {host: web, subset: v1}\n      weight: 100\n"                              \
    "    - destination: {host: web, subset: " second "}\n      weight: 0\n"

static const struct config_case cases[] = {
    {"rollout_valid", RO(DESTS "  steps: [{weight: 5}, {weight: 50}, {weight: 100}]\n"), "IST0106",
     NULL, NULL, true},
    {"rollout_needs_steps", RO(DESTS), "IST0106", "spec.steps", "steps are required"},
    {"rollout_needs_virtual_service",
     RO("  stable: {host: web, subset: v1}\n  canary: {host: web, subset: v2}\n"
        "  steps: [{weight: 100}]\n"),
     "IST0106", "spec.virtualService", "virtualService is required"},
    {"rollout_needs_canary",
     RO("  virtualService: web\n  stable: {host: web, subset: v1}\n"
        "  steps: [{weight: 100}]\n"),
     "IST0106", "spec.canary", "canary destination is required"},
    {"rollout_rejects_same_destinations",
     RO("  virtualService: web\n  stable: {host: web, subset: v1}\n"
        "  canary: {host: web, subset: v1}\n  steps: [{weight: 100}]\n"),
     "IST0106", "spec.canary.subset", "the same destination"},
    {"rollout_rejects_weight_over_100", RO(DESTS "  steps: [{weight: 5}, {weight: 101}]\n"),
     "IST0106", "spec.steps[1].weight", "out of range"},
    {"rollout_rejects_shrinking_weight", RO(DESTS "  steps: [{weight: 50}, {weight: 25}]\n"),
     "IST0106", "spec.steps[1].weight", "does not grow"},
    {"rollout_rejects_zero_weight", RO(DESTS "  steps: [{weight: 0}]\n"), "IST0106",
     "spec.steps[0].weight", "out of range"},
    {"rollout_rejects_unknown_field", RO(DESTS "  steps: [{weight: 100}]\n  stepz: 1\n"), "IST0106",
     "spec.stepz", NULL},
    {"rollout_rejects_bad_reporter", RO(DESTS "  steps: [{weight: 100}]\n  reporter: me\n"),
     "IST0106", "spec.reporter", "unknown reporter"},
    {"rollout_rejects_bad_metrics_address",
     RO(DESTS "  steps: [{weight: 100}]\n  metrics: [127.0.0.1]\n"), "IST0106", "spec.metrics[0]",
     "is not HOST:PORT"},
    {"rollout_rejects_success_rate_over_100",
     RO(DESTS "  steps: [{weight: 100}]\n  checks: {minSuccessRate: 120}\n"), "IST0106",
     "spec.checks.minSuccessRate", "out of range"},
    {"rollout_rejects_p99_ratio_below_1",
     RO(DESTS "  steps: [{weight: 100}]\n  checks: {maxP99Ratio: 0.5}\n"), "IST0106",
     "spec.checks.maxP99Ratio", "out of range"},
    {"rollout_rejects_zero_failure_threshold",
     RO(DESTS "  steps: [{weight: 100}]\n  checks: {failureThreshold: 0}\n"), "IST0106",
     "spec.checks.failureThreshold", "out of range"},
    {"rollout_accepts_failure_threshold",
     RO(DESTS "  steps: [{weight: 100}]\n  checks: {failureThreshold: 3}\n"), "IST0106", NULL, NULL,
     true},
    {"rollout_rejects_bad_duration", RO(DESTS "  steps: [{weight: 100}]\n  minDuration: soon\n"),
     "IST0106", "spec.minDuration", NULL},
    {"rollout_rejects_other_api_version",
     "apiVersion: meshlet.io/v1\nkind: Rollout\nmetadata: {name: r}\nspec:\n" DESTS
     "  steps: [{weight: 100}]\n",
     "IST0106", "apiVersion", "unsupported apiVersion"},
    {"rollout_finds_its_route",
     RO(DESTS "  route: main\n  steps: [{weight: 100}]\n") VS("main", "v2"), "IST0106", NULL, NULL,
     true, true},
    {"rollout_names_a_missing_route",
     RO(DESTS "  route: other\n  steps: [{weight: 100}]\n") VS("main", "v2"), "IST0106",
     "spec.route", "has no http route \"other\"", false, true},
    {"rollout_canary_must_be_in_the_route",
     RO(DESTS "  route: main\n  steps: [{weight: 100}]\n") VS("main", "v3"), "IST0106",
     "spec.canary", "does not route to web subset v2", false, true},
    {"rollout_without_route_needs_both_destinations",
     RO(DESTS "  steps: [{weight: 100}]\n") VS("main", "v3"), "IST0106", "spec.virtualService",
     "no http route to both", false, true},
};

int
main(void)
{
    return config_case_run_all("rollout_spec", cases, sizeof(cases) / sizeof(cases[0]));
}
