"""A sticky reverse proxy: one address for a lecture hall, several Solara processes behind it.

One Solara process serves a few dozen viewers before the CPU (not memory) is the limit; past that,
`diffviz dashboard NAME --server solara --processes N` starts N processes on their own ports and this
proxy in front of them. A viewer's widgets live in the process that built them, so every request of
one viewer — the page, its assets and its websocket — must reach the same process: the proxy picks a
process for a new browser (the one with the fewest viewers so far) and pins it with a cookie.

It is a teaching-scale stand-in for nginx (`ip_hash`/`sticky cookie`) or a cloud load balancer, which
do the same job for more machines; the README's scaling table says when to reach for those. Plain
tornado (already installed with Jupyter): HTTP is forwarded with its AsyncHTTPClient, websockets
frame by frame in both directions.
"""
from __future__ import annotations

import asyncio
import itertools
from http.cookies import SimpleCookie

from tornado import httpclient, web, websocket
from tornado.httputil import HTTPHeaders

COOKIE = "diffviz-worker"
# headers that belong to one hop of a connection, not to the request (RFC 7230 §6.1), plus the ones
# tornado sets itself on the way out
HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
       "transfer-encoding", "upgrade", "content-length", "host"}
WS_HANDSHAKE = {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-accept"}
MAX_MESSAGE = 512 * 1024 * 1024  # a trajectory's frames travel in one binary message


class Backends:
    """The processes behind the proxy and how many viewers each was given."""

    def __init__(self, ports: list[int], host: str = "127.0.0.1"):
        if not ports:
            raise ValueError("the proxy needs at least one backend port")
        self.ports, self.host = list(ports), host
        self.viewers = [0] * len(ports)
        self._order = itertools.count()

    def pick(self) -> int:
        """A new viewer goes to the process with the fewest viewers (ties: in turn)."""
        least = min(self.viewers)
        turn = next(self._order)
        choices = [i for i, n in enumerate(self.viewers) if n == least]
        index = choices[turn % len(choices)]
        self.viewers[index] += 1
        return index

    def index_from(self, cookie_value: str | None) -> int | None:
        if cookie_value is not None and cookie_value.isdigit() and int(cookie_value) < len(self.ports):
            return int(cookie_value)
        return None

    def url(self, index: int, uri: str, scheme: str = "http") -> str:
        return f"{scheme}://{self.host}:{self.ports[index]}{uri}"


class ProxyHandler(websocket.WebSocketHandler):
    """Every path: an HTTP request is forwarded as is; a websocket upgrade is joined to the backend's."""

    def initialize(self, backends: Backends):
        self.backends = backends
        self.upstream = None
        self.index = None

    # ---- which process --------------------------------------------------------------------------
    def _route(self) -> int:
        index = self.backends.index_from(self.get_cookie(COOKIE))
        if index is None:
            index = self.backends.pick()
            self.set_cookie(COOKIE, str(index), path="/", httponly=True, samesite="Lax")
        self.index = index
        return index

    def _forward_headers(self, drop: set[str]) -> HTTPHeaders:
        out = HTTPHeaders()
        for name, value in self.request.headers.get_all():
            if name.lower() not in drop:
                out.add(name, value)
        out["X-Forwarded-For"] = self.request.remote_ip or ""
        out["X-Forwarded-Proto"] = self.request.protocol
        out["X-Forwarded-Host"] = self.request.host
        return out

    # ---- HTTP --------------------------------------------------------------------------------------
    async def get(self, *args, **kwargs):
        if self.request.headers.get("Upgrade", "").lower() == "websocket":
            self._route()
            return await super().get(*args, **kwargs)
        await self._http()

    async def post(self, *args, **kwargs):
        await self._http()

    async def put(self, *args, **kwargs):
        await self._http()

    async def delete(self, *args, **kwargs):
        await self._http()

    async def patch(self, *args, **kwargs):
        await self._http()

    async def head(self, *args, **kwargs):
        await self._http()

    async def _http(self):
        index = self._route()
        body = self.request.body if self.request.method in ("POST", "PUT", "PATCH", "DELETE") else None
        request = httpclient.HTTPRequest(
            self.backends.url(index, self.request.uri), method=self.request.method, body=body,
            headers=self._forward_headers(HOP), follow_redirects=False, decompress_response=False,
            allow_nonstandard_methods=True, request_timeout=300)
        response = await httpclient.AsyncHTTPClient().fetch(request, raise_error=False)
        if response.code == 599:  # the backend is not answering (starting, or gone)
            self.set_status(502)
            self.finish(f"diffviz proxy: process {index} (port {self.backends.ports[index]}) is not answering")
            return
        self.set_status(response.code, response.reason)
        self._headers.pop("Content-Type", None)
        for name, value in response.headers.get_all():
            if name.lower() in HOP:
                continue
            if name.lower() == "set-cookie":
                self.add_header(name, value)
            else:
                self.set_header(name, value)
        if response.body and self.request.method != "HEAD":
            self.write(response.body)
        self.finish()

    # ---- websocket ---------------------------------------------------------------------------------
    def check_origin(self, origin: str) -> bool:
        return True  # the backend checks what it needs; the proxy only relays

    async def open(self, *args, **kwargs):
        self.set_nodelay(True)
        headers = self._forward_headers(HOP | WS_HANDSHAKE)
        request = httpclient.HTTPRequest(self.backends.url(self.index, self.request.uri, "ws"), headers=headers,
                                         request_timeout=60)
        try:
            self.upstream = await websocket.websocket_connect(request, max_message_size=MAX_MESSAGE,
                                                              on_message_callback=self._from_backend)
        except Exception:  # noqa: BLE001 - the browser sees a closed socket, as with the backend itself
            self.close(1011, "backend not answering")

    def _from_backend(self, message):
        if message is None:  # the backend closed
            if self.ws_connection is not None:
                self.close()
            return
        try:
            self.write_message(message, binary=isinstance(message, bytes))
        except websocket.WebSocketClosedError:
            pass

    async def on_message(self, message):
        waited = 0
        while self.upstream is None and waited < 600 and self.ws_connection is not None:  # still connecting
            await asyncio.sleep(0.05)
            waited += 1
        if self.upstream is not None:
            try:
                await self.upstream.write_message(message, binary=isinstance(message, bytes))
            except websocket.WebSocketClosedError:
                self.close()

    def on_close(self):
        if self.upstream is not None:
            self.upstream.close()
            self.upstream = None


def make_app(ports: list[int], host: str = "127.0.0.1") -> web.Application:
    backends = Backends(ports, host)
    app = web.Application([(r"/.*", ProxyHandler, dict(backends=backends))],
                          websocket_max_message_size=MAX_MESSAGE)
    app.backends = backends
    return app


def cookie_index(set_cookie_header: str) -> int | None:
    """The process a `Set-Cookie` header pins a browser to (for tests and the benchmark)."""
    cookie = SimpleCookie()
    cookie.load(set_cookie_header)
    return int(cookie[COOKIE].value) if COOKIE in cookie else None


def serve(port: int, backend_ports: list[int], host: str = "127.0.0.1") -> None:
    """Run the proxy on `host:port` until the process is stopped."""
    import tornado.ioloop

    httpclient.AsyncHTTPClient.configure(None, max_clients=256)
    app = make_app(backend_ports)  # the backends listen on 127.0.0.1 only: the proxy is the way in
    app.listen(port, address=host, max_body_size=MAX_MESSAGE)
    tornado.ioloop.IOLoop.current().start()


if __name__ == "__main__":  # python -m diffviz.servers.proxy HOST PORT BACKEND_PORT...
    import sys

    serve(int(sys.argv[2]), [int(p) for p in sys.argv[3:]], host=sys.argv[1])
