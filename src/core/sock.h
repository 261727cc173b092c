/* SPDX-License-Identifier: Apache-2.0 */
/* Non-blocking TCP sockets: listening with SO_REUSEPORT (one socket per worker), accepting,
 * connecting, and address parsing. */
#ifndef MESHLET_CORE_SOCK_H
#define MESHLET_CORE_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* <text> as an IP literal (v4 or v6, no port) into <ss>, port 0: false when it is not one
 * (a name). */
bool sock_parse_ip(const char *text, struct sockaddr_storage *ss);

/* Parse "host:port", "[v6]:port" or ":port" (all addresses) into <ss>. 0 or -EINVAL. */
int sock_parse_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len);

/* A non-blocking listening socket on <addr> with SO_REUSEADDR and SO_REUSEPORT.
 * fd or -errno. */
int sock_listen(const struct sockaddr *addr, socklen_t len, int backlog);

/* Accept one connection, non-blocking with TCP_NODELAY; fd, -EAGAIN, or -errno. */
int sock_accept(int lfd, struct sockaddr_storage *peer, socklen_t *peer_len);

/* Start a non-blocking connect; fd (connected or in progress) or -errno. */
int sock_connect(const struct sockaddr *addr, socklen_t len);

/* The pending error of a socket after a connect completed (0 when connected). */
int sock_error(int fd);

/* TCP keepalive on <fd>; a 0 argument keeps the system's value for it. 0 or -errno. */
int sock_keepalive(int fd, unsigned idle_s, unsigned interval_s, unsigned probes);

#endif
