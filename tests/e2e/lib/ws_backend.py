# SPDX-License-Identifier: Apache-2.0
"""A WebSocket server on 127.0.0.1 for the upgrade tests, from Debian's python3-websockets
(10.4 in Debian 12: the asyncio API; websockets.sync came in 11). It runs its own event loop
in a thread. Every connection is first told "version:<version>"; then each message is sent
back as it came, except on a path under /chat/close, where the server closes first (code
4001, "bye"). It records the paths and request headers it saw and the close code each
client sent."""
import asyncio
import threading

import websockets


class WsBackend:
    def __init__(self, version):
        self.version = version
        self.port = None
        self.paths = []
        self.headers = []
        self.closes = []  # the close code of each connection that ended (None: no close frame)
        self.loop = asyncio.new_event_loop()
        self.server = None
        self.thread = None

    async def _handler(self, ws):
        self.paths.append(ws.path)
        self.headers.append({k.lower(): v for k, v in ws.request_headers.raw_items()})
        try:
            await ws.send(f"version:{self.version}")
            if ws.path.startswith("/chat/close"):
                await ws.close(4001, "bye")
                return
            async for message in ws:
                await ws.send(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closes.append(ws.close_code)

    async def _serve(self):
        return await websockets.serve(self._handler, "127.0.0.1", 0, max_size=None,
                                      ping_interval=None)

    def start(self):
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(self._serve())
            self.port = self.server.sockets[0].getsockname()[1]
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise RuntimeError("WebSocket backend did not start")
        return self

    def stop(self):
        async def shut():
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(shut(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
