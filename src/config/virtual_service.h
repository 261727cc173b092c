/* SPDX-License-Identifier: Apache-2.0 */
/* VirtualService: decoding table and per-resource validation (Istio's ValidateVirtualService). */
#ifndef MESHLET_CONFIG_VIRTUAL_SERVICE_H
#define MESHLET_CONFIG_VIRTUAL_SERVICE_H

#include "config/diag.h"
#include "config/resource.h"

/* Check a decoded resource of this kind with Istio's per-resource rules; every problem goes
 * to <dl> with its field path. The decoding table is <kind>_schema in config/field.h. [M] */
void virtual_service_validate(const struct resource *r, struct diag_list *dl);

/* The number of gRPC status <name> ("UNAVAILABLE" is 14), as fault.abort.grpcStatus names
 * it. */
int virtual_service_grpc_code(const char *name);

#endif
