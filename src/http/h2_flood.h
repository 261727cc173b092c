/* SPDX-License-Identifier: Apache-2.0 */
/* Envoy's HTTP/2 flood checks (ProtocolConstraints, with its default limits), which it
 * applies to clients and servers alike: both codecs (h2_conn.c, h2_upstream.c) count the
 * peer's frames and their own here and refuse the peer when a check says so. [W] */
#ifndef MESHLET_HTTP_H2_FLOOD_H
#define MESHLET_HTTP_H2_FLOOD_H

#include <nghttp2/nghttp2.h>
#include <stdint.h>

#include "http/worker.h"

#define H2_FLOOD_EMPTY_FRAMES 1          /* max_consecutive_inbound_frames_with_empty_payload */
#define H2_FLOOD_PRIORITY_PER_STREAM 100 /* max_inbound_priority_frames_per_stream */
#define H2_FLOOD_WU_PER_DATA_SENT 10     /* max_inbound_window_update_frames_per_data_frame_sent */
#define H2_FLOOD_OUT_FRAMES 10000        /* max_outbound_frames */
#define H2_FLOOD_OUT_CONTROL 1000        /* max_outbound_control_frames */

struct h2_flood {
    uint32_t empty_run; /* frames with an empty payload in a row */
    uint64_t rx_priority, rx_window_update;
    uint64_t tx_data;                 /* DATA frames sent */
    uint64_t out_frames, out_control; /* frames queued since the peer last read */
};

/* A HEADERS, CONTINUATION or DATA frame that carried nothing and did not end its stream
 * (<empty>), or one that did: NULL, or why it floods with its counter. */
const char *h2_flood_empty(struct h2_flood *f, int empty, struct worker_h2_counts *k,
                           uint64_t **counter);

/* A frame header from the peer, before its payload (a padded DATA frame's payload is known
 * on receipt only: h2_flood_empty then); <streams>: the streams opened on the
 * connection so far. NULL, or why it floods, with the counter of <k> it counts in. */
const char *h2_flood_rx(struct h2_flood *f, const nghttp2_frame_hd *hd, uint64_t streams,
                        struct worker_h2_counts *k, uint64_t **counter);

/* A frame of ours on its way (PING and SETTINGS acknowledgements and resets are what the
 * peer provokes). */
void h2_flood_tx(struct h2_flood *f, uint8_t type);

/* Whether the frames queued since the peer last read are too many: NULL, or why with its
 * counter. */
const char *h2_flood_out(const struct h2_flood *f, struct worker_h2_counts *k, uint64_t **counter);

/* The peer read what was queued. */
static inline void
h2_flood_read(struct h2_flood *f)
{
    f->out_frames = f->out_control = 0;
}

#endif
