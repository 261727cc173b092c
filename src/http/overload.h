/* SPDX-License-Identifier: Apache-2.0 */
/* Client connections past what the proxy can hold, as Envoy's overload manager treats
 * them: past --max-connections (Envoy's global_downstream_max_connections), or when the
 * process has run out of file descriptors, a connection is accepted, told 503 with
 * `x-envoy-overloaded: true` (on a plain-text HTTP listener) and closed at once, so no
 * client waits in an accept queue nobody drains. [W] */
#ifndef MESHLET_HTTP_OVERLOAD_H
#define MESHLET_HTTP_OVERLOAD_H

#include <stdbool.h>
#include <sys/socket.h>

struct worker;
struct worker_listener;

/* A file descriptor a worker keeps to give up when accept() runs out of them, so that the
 * connection at the head of the queue can be taken and refused: -1 when none is free. */
int overload_reserve_open(void);

/* The next connection waiting on <wl>, and its <peer>: its fd, or -EAGAIN when none waits,
 * -ECONNABORTED when one went (the client left, or it was refused for want of fds: call
 * again), or -EMFILE, -ENFILE, -ENOBUFS, -ENOMEM when accepting must pause a while (no fd
 * or memory to spare, not even the reserve). */
int overload_accept(struct worker_listener *wl, struct sockaddr_storage *peer, socklen_t *len);

/* Whether one more client connection fits under --max-connections (a load and a compare,
 * as Envoy: workers accepting at the same moment may pass it by one each). */
bool overload_admit(const struct worker *wk);

/* Refuse <fd>, just accepted on <wl> past --max-connections: answer and close it. */
void overload_refuse(struct worker_listener *wl, int fd);

#endif
