/* SPDX-License-Identifier: Apache-2.0 */
/* PeerAuthentication validation rules. */
#include "config_case.h"

#define PA(spec)                                                                                   \
    "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p, "             \
    "namespace: default}\nspec:\n" spec

static const struct config_case cases[] = {
    {"pa_strict_is_valid", PA("  mtls: {mode: STRICT}\n"), "IST0106", NULL, NULL, true},
    {"pa_rejects_unknown_mode", PA("  mtls: {mode: BLAH}\n"), "IST0106", "spec.mtls.mode",
     "Unsupported value: \"BLAH\""},
    {"pa_rejects_port_level_without_selector", PA("  portLevelMtls:\n    8080: {mode: DISABLE}\n"),
     "IST0106", "spec.portLevelMtls", "mesh/namespace peer authentication cannot have port level"},
    {"pa_rejects_empty_port_level", PA("  portLevelMtls: {}\n"), "IST0106", "spec.portLevelMtls",
     "port level mTLS, if defined, must have at least one element"},
    {"pa_rejects_port_zero",
     PA("  selector: {matchLabels: {app: a}}\n  portLevelMtls:\n    0: {mode: DISABLE}\n"),
     "IST0106", "spec.portLevelMtls", "port must be in range 1..65535"},
    {"pa_rejects_non_numeric_port",
     PA("  selector: {matchLabels: {app: a}}\n  portLevelMtls:\n    acd: {mode: DISABLE}\n"),
     "IST0106", "spec.portLevelMtls", "type conversion error from"},
    {"pa_rejects_selector_wildcard", PA("  selector: {matchLabels: {app: \"*\"}}\n"), "IST0106",
     "spec.selector.matchLabels", "wildcard not allowed in label value match"},
    {"pa_v1beta1_is_accepted",
     "apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {name: p}\n"
     "spec:\n  mtls: {mode: PERMISSIVE}\n",
     "IST0106", NULL, NULL, true},
};

int
main(void)
{
    return config_case_run_all("peer_authentication", cases, sizeof(cases) / sizeof(cases[0]));
}
