# SPDX-License-Identifier: Apache-2.0
"""gRPC streams pass with back-pressure (issue 14: "no unbounded buffering of a fast
sender"). A client streams 128 MiB to a server that does not read yet, and a server streams
128 MiB to a client that does not read yet: meshlet holds no more than its flow-control
windows (1 MiB a stream, 16 MiB a connection, and its bounded buffers), so its resident
memory stays far below what was sent, and every byte arrives once the stalled side reads.
The figures are printed (pytest -s)."""
import threading
import time

import grpc

from configs import edge_routes, gateway
from grpc_backend import SERVICE, GrpcBackend
from meshlet_proc import free_port, serving
from test_grpc import AUTH, grpc_service
from test_h2_abuse import rss_kb, sanitized

MESSAGE = 256 * 1024
COUNT = 512  # 128 MiB each way
BOUND_KB = 48 * 1024  # far below 128 MiB, far above meshlet's windows


def proxied(meshlet_bin, tmp_path):
    b = GrpcBackend("v1").start()
    gw = free_port()
    config = "---\n".join([gateway(gw), grpc_service("echo", [(b.port, "v1")], ("v1",)),
                           edge_routes("routes", "  - route: [{destination: {host: echo}}]\n")])
    return b, gw, serving(meshlet_bin, tmp_path, config, [b])


def channel(gw):
    return grpc.insecure_channel(f"127.0.0.1:{gw}", options=[
        ("grpc.default_authority", AUTH), ("grpc.max_receive_message_length", 1 << 24)])


def test_a_fast_client_to_a_stalled_server(meshlet_bin, tmp_path):
    b, gw, ctx = proxied(meshlet_bin, tmp_path)
    with ctx as m, channel(gw) as ch:
        before, pulled = rss_kb(m.proc.pid), [0]

        def messages():
            for _ in range(COUNT):
                pulled[0] += 1
                yield b"c" * MESSAGE

        call = ch.stream_unary(f"/{SERVICE}/Sink")
        fut = call.future(messages(), timeout=120)
        time.sleep(3)  # the client sends what the windows let through, then waits
        held = rss_kb(m.proc.pid) - before
        stalled_at = pulled[0]
        print(f"stalled server: client pulled {stalled_at * MESSAGE >> 20} MiB, "
              f"meshlet RSS +{held} kB")
        assert stalled_at < COUNT  # the client is held back, not buffered for
        if not sanitized(m.proc.pid):
            assert held < BOUND_KB, held
        b.gate.set()
        assert fut.result(timeout=120) == str(COUNT * MESSAGE).encode()


def test_a_fast_server_to_a_stalled_client(meshlet_bin, tmp_path):
    b, gw, ctx = proxied(meshlet_bin, tmp_path)
    b.gate.set()
    with ctx as m, channel(gw) as ch:
        before = rss_kb(m.proc.pid)
        it = ch.unary_stream(f"/{SERVICE}/Flood")(f"{COUNT},{MESSAGE}".encode(), timeout=120)
        first = next(it)  # the call is under way; now the client stops reading
        assert len(first) == MESSAGE
        time.sleep(3)
        held = rss_kb(m.proc.pid) - before
        print(f"stalled client: meshlet RSS +{held} kB")
        if not sanitized(m.proc.pid):
            assert held < BOUND_KB, held
        got = [len(first)]
        reader = threading.Thread(target=lambda: got.extend(len(x) for x in it))
        reader.start()
        reader.join(120)
        assert len(got) == COUNT and sum(got) == COUNT * MESSAGE
