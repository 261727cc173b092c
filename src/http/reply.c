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
    case 101: return "Switching Protocols";
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
    struct local_reply r = {
        .status = status,
        .body = body ? slice_make(body, strlen(body)) : slice_make("", 0),
        .text = true,
    };
    return headers_local(out, &r, close);
}
