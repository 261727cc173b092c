/* SPDX-License-Identifier: Apache-2.0 */
/* PeerAuthentication: decoding table and per-resource validation. */
#ifndef MESHLET_CONFIG_PEER_AUTHENTICATION_H
#define MESHLET_CONFIG_PEER_AUTHENTICATION_H

#include "config/diag.h"
#include "config/resource.h"

/* Check a decoded resource of this kind with Istio's per-resource rules; every problem goes
 * to <dl> with its field path. The decoding table is <kind>_schema in config/field.h. [M] */
void peer_authentication_validate(const struct resource *r, struct diag_list *dl);

#endif
