#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The example's gRPC client, on Debian's python3-grpcio alone: N unary calls to
demo.Greeter/Hello over one channel (one HTTP/2 connection) through meshlet, then one
server-streaming call; prints how the calls split between the versions.

    examples/grpc/client.py --target 127.0.0.1:8090 --calls 100

Exits 1 if any call failed."""
import argparse
import collections
import sys

import grpc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="127.0.0.1:8090", help="meshlet's gateway")
    ap.add_argument("--authority", default="greeter.example.com", help="the :authority sent")
    ap.add_argument("--calls", type=int, default=100)
    args = ap.parse_args()

    def raw(b):
        return b

    with grpc.insecure_channel(args.target,
                               options=[("grpc.default_authority", args.authority)]) as ch:
        grpc.channel_ready_future(ch).result(timeout=10)
        hello = ch.unary_unary("/demo.Greeter/Hello", request_serializer=raw,
                               response_deserializer=raw)
        hellos = ch.unary_stream("/demo.Greeter/Hellos", request_serializer=raw,
                                 response_deserializer=raw)
        split, errors = collections.Counter(), collections.Counter()
        for i in range(args.calls):
            try:
                reply = hello(f"call {i + 1}".encode(), timeout=10)
                split[reply.split(b":", 1)[0].decode()] += 1
            except grpc.RpcError as e:
                errors[e.code().name] += 1
        try:
            for reply in hellos(b"stream", timeout=10):
                print("stream:", reply.decode())
        except grpc.RpcError as e:
            errors[e.code().name] += 1
    shares = "  ".join(f"{v} {n} ({100 * n / args.calls:.0f}%)" for v, n in sorted(split.items()))
    print(f"{args.calls} calls over one channel: {shares}")
    print("split:", " ".join(f"{v}={n}" for v, n in sorted(split.items())),
          f"errors={sum(errors.values())}", " ".join(f"{k}={n}" for k, n in errors.items()))
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
