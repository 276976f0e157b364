"""`python -m diffviz.servers.solara_main run …`: Solara's own `solara run`, with static files compressed once.

Solara's server gzips every response on the fly at level 9 (starlette's GZipMiddleware). Its front end
is ~5 MB of JavaScript and CSS that every new viewer downloads, so a hall of 20 viewers opening the page
at once spends ~0.5 CPU-s per viewer compressing the same files again: measured, the largest single
cost of a viewer on the server (`benchmarks/classroom.py`). The files under the static prefixes do not
change while the server runs, so this keeps each one's compressed response in memory (bounded) and
answers later requests from there. Everything else — the page, the API, the websocket — goes through
Solara's middleware untouched.

The swap happens before Solara imports its app module (which builds its middleware list from
`starlette.middleware.gzip.GZipMiddleware`), in this process; `solara run --production` serves in the
same process, so the app picks it up.

Solara's CDN route (`/_solara/cdn/…`) answers from solara-assets' copy on disk, but a file that copy does
not hold it fetches from jsdelivr and writes into the copy. The README promises nothing leaves the
machine, so `install()` also makes that route local-only: a file not shipped is a 404, never a download.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

from starlette.datastructures import Headers
from starlette.middleware import gzip as _gzip

# Paths whose responses are files that stay the same while the server runs (Solara's CDN copy, its
# static folder with diffviz's assets, the widget extensions' JavaScript).
STATIC_PREFIXES = ("/_solara/cdn/", "/static/", "/jupyter/nbextensions/", "/_solara/static/")
MAX_ENTRY = 16 * 2**20
MAX_TOTAL = 96 * 2**20
_SolaraGZip = _gzip.GZipMiddleware


class StaticCache:
    """Complete 200 responses by (path, query, gzip accepted), least recently used dropped past MAX_TOTAL."""

    def __init__(self, max_total: int = MAX_TOTAL, max_entry: int = MAX_ENTRY):
        self.max_total, self.max_entry = max_total, max_entry
        self._items: OrderedDict[tuple, tuple[dict, bytes]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key):
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item

    def put(self, key, start: dict, body: bytes) -> None:
        if len(body) > self.max_entry:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old[1])
            self._items[key] = (start, body)
            self._size += len(body)
            while self._size > self.max_total and self._items:
                _, (_, dropped) = self._items.popitem(last=False)
                self._size -= len(dropped)


def cache_key(scope) -> tuple | None:
    """The cache entry a request reads, or None for one answered by Solara itself: anything but a plain GET of
    a static file (pages, API, websocket) and conditional or partial requests (304, 206)."""
    if scope["type"] != "http" or scope.get("method") != "GET" or not scope.get("path", "").startswith(STATIC_PREFIXES):
        return None
    headers = Headers(scope=scope)
    if any(h in headers for h in ("range", "if-none-match", "if-modified-since")):
        return None
    gz = "gzip" in headers.get("accept-encoding", "")
    return scope.get("root_path", ""), scope["path"], scope.get("query_string", b""), gz


class CachedGZipMiddleware(_SolaraGZip):
    """starlette's GZipMiddleware, answering repeated static-file requests from memory."""

    cache = StaticCache()  # one per process: every viewer shares it

    async def __call__(self, scope, receive, send) -> None:
        key = cache_key(scope)
        if key is None:
            await super().__call__(scope, receive, send)
            return
        hit = self.cache.get(key)
        if hit is not None:
            start, body = hit
            await send(dict(start))
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        sent: list[dict] = []

        async def capture(message) -> None:
            sent.append(message)
            await send(message)

        await super().__call__(scope, receive, capture)
        if (sent and sent[0].get("type") == "http.response.start" and sent[0].get("status") == 200
                and all(m.get("type") == "http.response.body" for m in sent[1:])
                and not sent[-1].get("more_body", False)):
            self.cache.put(key, sent[0], b"".join(m.get("body", b"") for m in sent[1:]))


def local_cdn_path(base_cache_dir, path):
    """Solara's `cdn_helper.get_path` without the download: the shipped file's path, or FileNotFoundError
    (Solara's CDN route then answers 404)."""
    from pathlib import Path

    from solara.server.utils import path_is_child_of

    base = Path(base_cache_dir)
    parts = path.replace("\\", "/").split("/")
    target = base / (path if len(parts) != 1 else Path(path) / "__main.js")
    if not path_is_child_of(target, base):
        raise PermissionError("Trying to read from outside of cache directory")
    if not target.is_file():
        raise FileNotFoundError(f"{path} is not among the assets shipped with solara-assets (no CDN fetch)")
    return target


def local_cdn_data(base_cache_dir, path) -> bytes:
    return local_cdn_path(base_cache_dir, path).read_bytes()


def install() -> None:
    """Make Solara's app use the caching middleware and a CDN route that never downloads (call before
    `solara.server.starlette` is imported: it binds `get_path` at import)."""
    from solara.server import cdn_helper

    _gzip.GZipMiddleware = CachedGZipMiddleware
    cdn_helper.get_path, cdn_helper.get_data = local_cdn_path, local_cdn_data


def main() -> None:
    install()
    from solara.__main__ import main as solara_main

    solara_main()


if __name__ == "__main__":
    main()
