/* SPDX-License-Identifier: Apache-2.0 */
/* ServiceEntry and WorkloadEntry: decoding tables and per-resource validation. */
#ifndef MESHLET_CONFIG_SERVICE_ENTRY_H
#define MESHLET_CONFIG_SERVICE_ENTRY_H

#include "config/diag.h"
#include "config/resource.h"

/* Check a decoded resource of this kind with Istio's per-resource rules; every problem goes
 * to <dl> with its field path. The decoding table is <kind>_schema in config/field.h. [M] */
void service_entry_validate(const struct resource *r, struct diag_list *dl);
void workload_entry_validate(const struct resource *r, struct diag_list *dl);

#endif
