/* SPDX-License-Identifier: Apache-2.0 */
/* Local replies: what the proxy answers itself (no route, no cluster, no healthy upstream,
 * bad requests), with Envoy's bodies where Envoy has one. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http/h1_int.h"

const char *
reply_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

int
reply_local(struct buf *out, int status, const char *body, bool close)
{
    return reply_local_headers(out, status, "", body, close);
}

int
reply_local_headers(struct buf *out, int status, const char *headers, const char *body, bool close)
{
    char head[512];
    size_t blen = body ? strlen(body) : 0;
    int n =
        snprintf(head, sizeof(head),
                 "HTTP/1.1 %d %s\r\ncontent-length: %zu\r\ncontent-type: text/plain\r\n"
                 "server: meshlet\r\n%s%s\r\n",
                 status, reply_reason(status), blen, headers, close ? "connection: close\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(head)) return -ENOBUFS;
    int rc = buf_append(out, head, (size_t)n);
    if (!rc && blen) rc = buf_append(out, body, blen);
    return rc;
}

int
reply_grpc(struct buf *out, int code, const char *message, bool close)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ngrpc-status: %d\r\n"
                     "grpc-message: %s\r\ncontent-length: 0\r\nserver: meshlet\r\n%s\r\n",
                     code, message, close ? "connection: close\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(head)) return -ENOBUFS;
    return buf_append(out, head, (size_t)n);
}

int
reply_redirect(struct buf *out, int status, const char *location, bool close)
{
    char head[4608]; /* location up to 4 KiB */
    int n =
        snprintf(head, sizeof(head),
                 "HTTP/1.1 %d %s\r\nlocation: %s\r\ncontent-length: 0\r\nserver: meshlet\r\n%s\r\n",
                 status, reply_reason(status), location, close ? "connection: close\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(head)) return -ENOBUFS;
    return buf_append(out, head, (size_t)n);
}
