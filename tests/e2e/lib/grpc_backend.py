# SPDX-License-Identifier: Apache-2.0
"""A gRPC test server on Debian's python3-grpcio, without generated code: service
test.Echo with the four call types on raw bytes. Every reply says which backend answered
("v1:" + the request); `fail_code` makes every call fail with that status code. With
`tls=(chain, key, client_root)` it serves TLS (h2 by ALPN, as every gRPC server), and with
a client root it requires a client certificate and records each caller's URI SAN.
`Sink` (client streaming) and `Flood` (server streaming) wait for `gate` before they read
or write: a stalled peer, for back-pressure tests."""
import threading
from concurrent import futures

import grpc

SERVICE = "test.Echo"


def _ident(b):
    return b


class GrpcBackend:
    def __init__(self, version, fail_code=None, tls=None):
        self.version = version.encode()
        self.fail_code = fail_code
        self.calls = []
        self.peers = []  # per call: (transport security type, the client's URI SANs)
        self.gate = threading.Event()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        handlers = {
            "Unary": grpc.unary_unary_rpc_method_handler(self.unary, _ident, _ident),
            "ServerStream": grpc.unary_stream_rpc_method_handler(self.server_stream, _ident, _ident),
            "ClientStream": grpc.stream_unary_rpc_method_handler(self.client_stream, _ident, _ident),
            "Bidi": grpc.stream_stream_rpc_method_handler(self.bidi, _ident, _ident),
            "Sink": grpc.stream_unary_rpc_method_handler(self.sink, _ident, _ident),
            "Flood": grpc.unary_stream_rpc_method_handler(self.flood, _ident, _ident),
        }
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        if tls:
            chain, key, root = (open(f, "rb").read() if f else None for f in tls)
            creds = grpc.ssl_server_credentials([(key, chain)], root_certificates=root,
                                                require_client_auth=root is not None)
            self.port = self.server.add_secure_port("127.0.0.1:0", creds)
        else:
            self.port = self.server.add_insecure_port("127.0.0.1:0")

    def start(self):
        self.server.start()
        return self

    def stop(self):
        self.server.stop(0).wait(5)

    def _fail(self, context):
        if self.fail_code is not None:
            context.abort(self.fail_code, f"{self.version.decode()} fails")

    def _peer(self, context):
        auth = context.auth_context()
        sans = [v.decode() for v in auth.get("x509_subject_alternative_name", [])
                if v.startswith(b"spiffe://")]
        kind = b"".join(auth.get("transport_security_type", [b"insecure"])).decode()
        self.peers.append((kind, sans))

    def unary(self, request, context):
        self.calls.append("Unary")
        self._peer(context)
        self._fail(context)
        return self.version + b":" + request

    def server_stream(self, request, context):
        self.calls.append("ServerStream")
        self._fail(context)
        for i in range(5):
            yield self.version + b":" + request + b":" + str(i).encode()

    def client_stream(self, requests, context):
        self.calls.append("ClientStream")
        self._fail(context)
        return self.version + b":" + b",".join(requests)

    def bidi(self, requests, context):
        self.calls.append("Bidi")
        self._fail(context)
        for r in requests:
            yield self.version + b":" + r

    def sink(self, requests, context):
        """How many bytes came, read only once the gate opens."""
        self.gate.wait(60)
        return str(sum(len(r) for r in requests)).encode()

    def flood(self, request, context):
        """<request> (ASCII "count,size") messages of <size> bytes, once the gate opens."""
        count, size = (int(x) for x in request.split(b","))
        self.gate.wait(60)
        block = b"m" * size
        for _ in range(count):
            yield block
