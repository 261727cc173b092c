/* SPDX-License-Identifier: Apache-2.0 */
#include "tls/sniff.h"

#include <errno.h>
#include <sys/socket.h>

#define TLS_HANDSHAKE_RECORD 0x16

enum sniff
sniff_first_byte(int fd)
{
    unsigned char first;
    ssize_t n = recv(fd, &first, 1, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return SNIFF_WAIT;
    if (n <= 0) return SNIFF_GONE;
    return first == TLS_HANDSHAKE_RECORD ? SNIFF_TLS : SNIFF_PLAIN;
}
