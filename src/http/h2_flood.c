/* SPDX-License-Identifier: Apache-2.0 */
/* See h2_flood.h. */
#include "http/h2_flood.h"

#include <stddef.h>

const char *
h2_flood_empty(struct h2_flood *f, int empty, struct worker_h2_counts *k, uint64_t **counter)
{
    f->empty_run = empty ? f->empty_run + 1 : 0;
    if (f->empty_run <= H2_FLOOD_EMPTY_FRAMES) return NULL;
    *counter = &k->empty_frames;
    return "consecutive frames with an empty payload";
}

const char *
h2_flood_rx(struct h2_flood *f, const nghttp2_frame_hd *hd, uint64_t streams,
            struct worker_h2_counts *k, uint64_t **counter)
{
    switch (hd->type) {
    case NGHTTP2_HEADERS:
    case NGHTTP2_CONTINUATION:
    case NGHTTP2_DATA:
        if (hd->type == NGHTTP2_DATA && (hd->flags & NGHTTP2_FLAG_PADDED)) break;
        /* END_STREAM means nothing on a CONTINUATION frame. */
        return h2_flood_empty(f,
                              hd->length == 0 && (hd->type == NGHTTP2_CONTINUATION ||
                                                  !(hd->flags & NGHTTP2_FLAG_END_STREAM)),
                              k, counter);
    case NGHTTP2_PRIORITY:
        if (++f->rx_priority <= H2_FLOOD_PRIORITY_PER_STREAM * (1 + streams)) break;
        *counter = &k->priority_frames;
        return "too many PRIORITY frames";
    case NGHTTP2_WINDOW_UPDATE:
        /* Envoy's bound: 5 + 2 * (streams opened + 10 * DATA frames sent). */
        if (++f->rx_window_update <= 5 + 2 * (streams + H2_FLOOD_WU_PER_DATA_SENT * f->tx_data))
            break;
        *counter = &k->window_updates;
        return "too many WINDOW_UPDATE frames";
    default: break;
    }
    return NULL;
}

void
h2_flood_tx(struct h2_flood *f, uint8_t type)
{
    if (type == NGHTTP2_DATA) f->tx_data++;
    f->out_frames++;
    if (type == NGHTTP2_PING || type == NGHTTP2_SETTINGS || type == NGHTTP2_RST_STREAM)
        f->out_control++;
}

const char *
h2_flood_out(const struct h2_flood *f, struct worker_h2_counts *k, uint64_t **counter)
{
    if (f->out_control > H2_FLOOD_OUT_CONTROL) {
        *counter = &k->outbound_control;
        return "acknowledgements the peer does not read (outbound control flood)";
    }
    if (f->out_frames > H2_FLOOD_OUT_FRAMES) {
        *counter = &k->outbound_frames;
        return "frames the peer does not read (outbound flood)";
    }
    return NULL;
}
