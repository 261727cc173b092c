/* SPDX-License-Identifier: Apache-2.0 */
/* PeerAuthentication: decoding tables and Istio's per-resource validation. */
#include "config/peer_authentication.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/field.h"
#include "config/rules.h"

FIELD_SCHEMA(mtls, RES_MTLS)
FIELD_SCHEMA(peer_authentication, RES_PEER_AUTHENTICATION)

void
peer_authentication_validate(const struct resource *r, struct diag_list *dl)
{
    struct vctx v = {dl, r};
    const struct peer_authentication *pa = r->spec.pa;
    bool has_selector = pa->selector && pa->selector->match_labels.len > 0;
    if (pa->selector) rules_selector(&v, pa->selector, "matchLabels", &pa->selector->match_labels);

    struct fy_node *plm = field_node(pa->obj.node, "portLevelMtls", -1);
    if (plm && pa->port_level_mtls_len == 0) {
        rules_error(&v, pa, "portLevelMtls", -1, "list ports with modes, or remove portLevelMtls",
                    "port level mTLS, if defined, must have at least one element");
        return;
    }
    if (pa->port_level_mtls_len && !has_selector) {
        rules_error(&v, pa, "portLevelMtls", -1,
                    "add a selector: port-level modes apply to selected workloads only",
                    "mesh/namespace peer authentication cannot have port level mTLS");
    }
    for (size_t i = 0; i < pa->port_level_mtls_len; i++) {
        const char *k = pa->port_level_mtls_keys[i];
        char *end;
        long port = strtol(k, &end, 10);
        if (!*k || *end) {
            rules_error(&v, pa, "portLevelMtls", -1, "keys are port numbers",
                        "type conversion error from \"%s\" to port number", k);
        } else if (port < 1 || port > 65535) {
            rules_error(&v, pa, "portLevelMtls", -1, "use a port from 1 to 65535",
                        "port must be in range 1..65535");
        }
    }
}
