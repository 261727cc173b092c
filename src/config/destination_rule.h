/* SPDX-License-Identifier: Apache-2.0 */
/* DestinationRule: decoding table and per-resource validation (subsets, trafficPolicy,
 * portLevelSettings). */
#ifndef MESHLET_CONFIG_DESTINATION_RULE_H
#define MESHLET_CONFIG_DESTINATION_RULE_H

#include "config/diag.h"
#include "config/resource.h"

/* Check a decoded resource of this kind with Istio's per-resource rules; every problem goes
 * to <dl> with its field path. The decoding table is <kind>_schema in config/field.h. [M] */
void destination_rule_validate(const struct resource *r, struct diag_list *dl);

#endif
