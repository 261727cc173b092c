

class SwitchAndGo:
    """Answers a request head 101 (websocket) and closes at once."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                head = b""
                while b"\r\n\r\n" not in head:
                    d = c.recv(1)
                    if not d:
                        break
                    head += d
                c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\n\r\nbye")
            except OSError:
                pass
            c.close()

    def stop(self):
        self.sock.close()


@pytest.mark.parametrize("draining", [False, True])
def test_upgrade_whose_tunnel_ends_at_once(meshlet_bin, tmp_path, draining):
    """The client ends its side with its upgrade request and the server closes right after
    its 101: the tunnel ends while it starts. The connection is closed once (a second
    close would unlink it twice and free it twice), also while the worker drains."""
    b = SwitchAndGo()
    gw = free_port()
    (tmp_path / "config.yaml").write_text(f"""\
{gateway_servers(f'''  - port: {{number: {gw}, name: http, protocol: HTTP}}
    hosts: ["ws.example.com"]
''')}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: ws, namespace: shop}}
spec:
  hosts: [ws.shop.svc.cluster.local]
  location: MESH_INTERNAL
  ports:
  - {{number: 80, name: http, protocol: HTTP}}
  resolution: STATIC
  endpoints:
  - {{address: 127.0.0.1, ports: {{http: {b.port}}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: ws, namespace: shop}}
spec:
  hosts: [ws.example.com]
  gateways: [edge]
  http:
  - route:
    - destination: {{host: ws.shop.svc.cluster.local, port: {{number: 80}}}}
""")
    m = Meshlet(meshlet_bin, tmp_path, extra=("--namespace", "shop", "--drain-time", "3"))
    m.start()
    try:
        conns = [dial(gw) for _ in range(20)]
        if draining:
            m.proc.terminate()  # the open connections may finish their requests
            time.sleep(0.3)
        for c in conns:
            c.sendall(b"GET /chat HTTP/1.1\r\nHost: ws.example.com\r\nConnection: Upgrade\r\n"
                      b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            c.shutdown(socket.SHUT_WR)
        for c in conns:
            c.settimeout(10)
            got = b""
            while True:
                d = c.recv(4096)
                if not d:
                    break
                got += d
            assert got.startswith(b"HTTP/1.1 101") and got.endswith(b"bye"), got
            c.close()
        if not draining:
            assert eventually(lambda: "downstream_cx_active: 0" in m.admin("/stats")
                              or "downstream_cx_active" not in m.admin("/stats"), 5)
            s = dict(x.split(": ", 1) for x in m.admin("/stats").splitlines())
            print({k: v for k, v in s.items() if "upgrade" in k or "cx_active" in k})
    finally:
        code = m.stop()
        b.stop()
    assert code == 0, m.logs()
