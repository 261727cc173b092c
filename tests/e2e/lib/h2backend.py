# SPDX-License-Identifier: Apache-2.0
"""An HTTP/2 (h2c, prior knowledge) test backend built on Debian's python3-h2: every
request is answered with JSON saying who answered and what it got, and gRPC requests
(content-type application/grpc) also get trailers (grpc-status); the request trailers it
got are echoed in the JSON ("trailers"), with the body's first 4 KiB ("body"). With `hold`
requests are answered only when release() is called (to hold streams open). `fail_status`
answers every request with that status; `reset` resets every stream instead of answering;
`refuse` turns away the first N requests unprocessed: with `refuse_by="rst"` each gets
RST_STREAM(REFUSED_STREAM), with "goaway" each connection's first request gets a GOAWAY whose
last stream id is 0 and the connection closes."""
import json
import socket
import threading

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions


class H2Backend:
    def __init__(self, version, fail_status=None, reset=False, hold=False, refuse=0,
                 refuse_by="rst"):
        self.version = version
        self.fail_status = fail_status
        self.reset = reset
        self.hold = hold
        self.refuse, self.refuse_by = refuse, refuse_by
        self.refused = 0       # requests turned away unprocessed
        self.held = []         # (send lock, socket, answer arguments) of held requests
        self.heads = []        # request heads (pseudo-headers included), in order
        self.got = {}          # path: (body, trailers) of each request
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.hits = []         # request paths, in order
        self.connections = 0   # connections accepted
        self.closed = 0        # connections the client (meshlet) closed
        self.resets = 0        # streams the client reset
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(5)
        self.sock.close()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, s):
        c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False,
                                                                 validate_inbound_headers=False))
        c.initiate_connection()
        s.sendall(c.data_to_send())
        heads, bodies, trailers = {}, {}, {}
        send_lock = threading.Lock()  # release() answers from another thread
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    with self.lock:
                        self.closed += 1
                    return
                with send_lock:
                    for e in c.receive_data(data):
                        if (isinstance(e, h2.events.RequestReceived)
                                and self._refused(c, e.stream_id)):
                            if self.refuse_by == "goaway":
                                s.sendall(c.data_to_send())
                                return
                        elif isinstance(e, h2.events.RequestReceived):
                            heads[e.stream_id] = {k.decode(): v.decode() for k, v in e.headers}
                            bodies[e.stream_id] = b""
                        elif (not isinstance(e, h2.events.StreamReset)
                              and getattr(e, "stream_id", None) not in heads):
                            pass  # the rest of a refused stream, or no stream's
                        elif isinstance(e, h2.events.TrailersReceived):
                            trailers[e.stream_id] = {k.decode(): v.decode() for k, v in e.headers}
                        elif isinstance(e, h2.events.DataReceived):
                            bodies[e.stream_id] += e.data
                            c.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
                        elif isinstance(e, h2.events.StreamReset):
                            with self.lock:
                                self.resets += 1
                        elif isinstance(e, h2.events.StreamEnded):
                            args = (c, e.stream_id, heads.pop(e.stream_id), bodies.pop(e.stream_id),
                                    trailers.pop(e.stream_id, {}))
                            with self.lock:
                                self.heads.append(args[2])
                                self.got[args[2].get(":path")] = (args[3], args[4])
                                if self.hold:
                                    self.held.append((send_lock, s, args))
                                    continue
                            self._answer(*args)
                    out = c.data_to_send()
                s.sendall(out)
        except OSError:
            return
        finally:
            s.close()

    def release(self):
        """Answer every request held so far."""
        with self.lock:
            held, self.held = self.held, []
        for send_lock, s, args in held:
            with send_lock:
                try:
                    self._answer(*args)
                    s.sendall(args[0].data_to_send())
                except (OSError, h2.exceptions.ProtocolError):
                    pass  # the stream or its connection went meanwhile

    def _refused(self, c, sid):
        with self.lock:
            if self.refused >= self.refuse:
                return False
            self.refused += 1
        if self.refuse_by == "goaway":
            c.close_connection(error_code=h2.errors.ErrorCodes.NO_ERROR, last_stream_id=0)
        else:
            c.reset_stream(sid, error_code=h2.errors.ErrorCodes.REFUSED_STREAM)
        return True

    def _answer(self, c, sid, head, body, trailers):
        with self.lock:
            self.hits.append(head.get(":path", ""))
        if self.reset:
            c.reset_stream(sid)
            return
        grpc = head.get("content-type", "").startswith("application/grpc")
        out = json.dumps({"version": self.version, "path": head.get(":path"),
                          "authority": head.get(":authority"), "headers": head,
                          "body_length": len(body), "body": body[:4096].decode("latin-1"),
                          "trailers": trailers}).encode()
        status = str(self.fail_status or 200)
        c.send_headers(sid, [(":status", status), ("content-type", "application/json"),
                             ("x-backend-version", self.version)])
        c.send_data(sid, out, end_stream=not grpc)
        if grpc:
            c.send_headers(sid, [("grpc-status", "0"), ("grpc-message", "ok")], end_stream=True)
