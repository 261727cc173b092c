#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The example's gRPC server, on Debian's python3-grpcio alone (no protoc, no generated
code): service demo.Greeter with a unary Hello and a server-streaming Hellos, on raw bytes.
Every reply names the server's version, so the client can count the split.

    examples/grpc/server.py --version v1 --port 50051
    examples/grpc/server.py --version v2 --port 50052 --unavailable-every 3

--unavailable-every N answers every Nth call UNAVAILABLE: the route's retry (retryOn:
unavailable) sends it again, and the client never sees the failure. SIGTERM or SIGINT
stops it."""
import argparse
import itertools
import signal
import sys
import threading
from concurrent import futures

import grpc

SERVICE = "demo.Greeter"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--version", required=True, help="reported in every reply (v1, v2)")
    ap.add_argument("--port", type=int, required=True, help="listen on 127.0.0.1:PORT")
    ap.add_argument("--unavailable-every", type=int, default=0, metavar="N",
                    help="answer every Nth call UNAVAILABLE (0: never)")
    args = ap.parse_args()
    version = args.version.encode()
    calls = itertools.count(1)
    lock = threading.Lock()

    def busy(context):
        with lock:
            n = next(calls)
        if args.unavailable_every and n % args.unavailable_every == 0:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"{args.version} is busy, try again")

    def hello(request, context):
        busy(context)
        return version + b": hello " + request

    def hellos(request, context):
        busy(context)
        for i in range(3):
            yield version + b": hello " + request + b" #" + str(i + 1).encode()

    def raw(b):
        return b

    handlers = {
        "Hello": grpc.unary_unary_rpc_method_handler(hello, raw, raw),
        "Hellos": grpc.unary_stream_rpc_method_handler(hellos, raw, raw),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    if not server.add_insecure_port(f"127.0.0.1:{args.port}"):
        sys.exit(f"server {args.version}: cannot listen on 127.0.0.1:{args.port}")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print(f"server {args.version}: listening on 127.0.0.1:{args.port}", flush=True)
    stop.wait()
    server.stop(1).wait(5)


if __name__ == "__main__":
    main()
