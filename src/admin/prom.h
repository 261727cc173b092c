/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus text exposition of the merged metric shards (GET /stats/prometheus). [M] */
#ifndef MESHLET_ADMIN_PROM_H
#define MESHLET_ADMIN_PROM_H

#include <stdint.h>

#include "admin/admin.h"
#include "core/strbuf.h"

void prom_write(const struct admin *a, struct strbuf *sb);

/* A family's HELP and TYPE lines. */
void prom_family(struct strbuf *sb, const char *name, const char *type, const char *help);

/* One histogram series <name>{<labels>}: cumulative _bucket lines up to le="+Inf", _sum
 * (recorded values / <scale>) and _count (equal to the +Inf bucket). */
struct metric_histo;
void prom_histogram(struct strbuf *sb, const char *name, const char *labels,
                    const struct metric_histo *h, uint64_t scale);

#endif
