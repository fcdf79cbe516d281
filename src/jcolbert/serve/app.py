"""`create_app(config)`: the FastAPI application, its start-up and shutdown, middleware and error answers.

Start-up opens the indexes and loads their models on a background thread, so /healthz answers at once and
/readyz says when everything is loaded. Every response goes through `_RequestMiddleware` (a plain ASGI layer):
it refuses bodies over the size limit (413) and requests past the in-flight limit (429), turns any unexpected
exception into a JSON 500 (never a traceback), counts and times the request for /metrics, and logs one line
(method, path, status, milliseconds). Every error anywhere is `{"error": {"code": ..., "message": ...}}`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from jcolbert import __version__
from jcolbert.errors import (
    IndexFormatError,
    IndexLockedError,
    IndexReadOnlyError,
    InputError,
    NoSpaceError,
    ServiceError,
)
from jcolbert.serve import threads
from jcolbert.serve.config import ServeConfig
from jcolbert.serve.metrics import Metrics
from jcolbert.serve.registry import Registry, ServedIndex

logger = logging.getLogger("jcolbert.serve")
access_log = logging.getLogger("jcolbert.serve.access")
STATIC = Path(__file__).parent / "static"
_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "invalid_request",
                 429: "too_many_requests", 503: "unavailable", 504: "timeout"}


class Server:
    """What the routes share: settings, indexes, metrics, the search thread pool and the readiness state."""

    def __init__(self, config: ServeConfig):
        self.config = config
        self.limits = config.limits
        self.metrics = Metrics(self._gauges)
        self.registry = Registry(config, on_batch=self.metrics.batch_size.observe, run=self.run,
                                 on_search_call=self.metrics.search_batch.observe)
        self.pool = ThreadPoolExecutor(max_workers=config.search_threads, thread_name_prefix="jcolbert-search",
                                       initializer=threads.init_worker, initargs=(config.compute_threads,))
        self.ready = threading.Event()
        self.load_error: str | None = None
        self.inflight = 0

    # -- running work ------------------------------------------------------------------------------------
    async def run(self, fn, *args: Any, **kwargs: Any) -> Any:
        """fn(*args, **kwargs) on the search thread pool (numpy and torch release the GIL there)."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, partial(fn, *args, **kwargs))

    async def deadline(self, coro) -> Any:
        """Await coro within the per-request time limit (504 after it; the work's result is then dropped)."""
        try:
            return await asyncio.wait_for(coro, timeout=self.limits.timeout_s)
        except asyncio.TimeoutError:
            raise ServiceError(504, "timeout", f"the request took longer than the server's limit of "
                               f"{self.limits.timeout_s:g} s") from None

    async def index(self, name: str) -> ServedIndex:
        """The served index called name (opening it on a worker thread the first time); 404/503 otherwise."""
        if not self.ready.is_set():
            raise ServiceError(503, "not_ready", "the server is still opening its indexes; see /readyz")
        served = self.registry.lookup(name)
        return served if served is not None else await self.run(self.registry.get, name)

    # -- life cycle --------------------------------------------------------------------------------------
    def load(self) -> None:
        try:
            if self.config.preload:
                self.registry.preload()
        except Exception as exc:  # reported by /readyz; the process stays up to say so
            self.load_error = f"{type(exc).__name__}: {exc}"
            logger.error("start-up failed: %s", self.load_error)
        finally:
            self.ready.set()

    def close(self) -> None:
        self.registry.close()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _gauges(self) -> dict[str, list[tuple[str, float]]]:
        opened = self.registry.opened()
        documents = []
        for s in opened:
            try:
                documents.append((s.name, float(len(s.reader))))
            except Exception:  # noqa: BLE001 - an index that cannot be read now is simply not reported
                continue
        return {"documents": documents, "write_queue": [(s.name, float(s.writer.depth)) for s in opened],
                "encode_queue": [(m.name, float(m.batcher.depth)) for m in self.registry.models()],
                "inflight": [("", float(self.inflight))]}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def create_app(config: ServeConfig) -> FastAPI:
    """The application for config. `jcolbert serve` runs it on uvicorn; tests use FastAPI's TestClient."""
    from jcolbert.serve import routes_model, routes_read, routes_write

    server = Server(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        restore_threads = threads.limit_process(config.compute_threads)
        loader = threading.Thread(target=server.load, name="jcolbert-load", daemon=True)
        loader.start()
        try:
            yield
        finally:
            await asyncio.get_running_loop().run_in_executor(None, server.close)
            restore_threads()

    app = FastAPI(title="jcolbert", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Late-interaction (ColBERT) search over jcolbert indexes. Keys go in "
                              "`Authorization: Bearer KEY`; errors are `{\"error\": {\"code\", \"message\"}}`.")
    app.state.server = server
    app.add_middleware(_RequestMiddleware, server=server)
    _add_error_handlers(app)
    app.include_router(routes_read.router)
    app.include_router(routes_write.router)
    app.include_router(routes_model.router)
    routes_read.mount_docs(app)  # /static/swagger before /static, which would otherwise answer for it
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service(_: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc.status, exc.code, str(exc))

    @app.exception_handler(IndexLockedError)
    async def _locked(_: Request, exc: IndexLockedError) -> JSONResponse:
        return error_response(409, "index_locked", str(exc))

    @app.exception_handler(IndexReadOnlyError)
    async def _read_only(_: Request, exc: IndexReadOnlyError) -> JSONResponse:
        return error_response(409, "index_read_only", str(exc))

    @app.exception_handler(NoSpaceError)
    async def _no_space(_: Request, exc: NoSpaceError) -> JSONResponse:
        return error_response(503, "no_space", str(exc))

    @app.exception_handler(IndexFormatError)
    async def _format(_: Request, exc: IndexFormatError) -> JSONResponse:
        return error_response(503, "index_unavailable", str(exc))

    @app.exception_handler(InputError)
    async def _input(_: Request, exc: InputError) -> JSONResponse:
        return error_response(400, "bad_request", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        bad_json = [e for e in errors if e.get("type") == "json_invalid"]
        if bad_json:
            where = bad_json[0].get("loc", ("body", "?"))[-1]
            error = (bad_json[0].get("ctx") or {}).get("error", "malformed")
            return error_response(422, "invalid_json", f"the body is not valid JSON ({error} at character {where})")
        problems = []
        for err in errors[:5]:
            where = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        return error_response(422, "invalid_request", "; ".join(problems) or "the request is not valid")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code in (404, 405) and message in ("Not Found", "Method Not Allowed"):
            message = f"no route {request.method} {request.url.path} on this server (the API is listed at /docs)"
        return error_response(exc.status_code, _STATUS_CODES.get(exc.status_code, "error"), message,
                              headers=getattr(exc, "headers", None))


class _RequestMiddleware:
    """Body-size and in-flight limits, a JSON 500 for anything unexpected, metrics and the access log."""

    def __init__(self, app, server: Server):
        self.app = app
        self.server = server

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        server, limits = self.server, self.server.limits
        started = time.perf_counter()
        status = {"code": 500, "sent": False}

        async def send_tracked(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["sent"] = True
            await send(message)

        async def reply(code: int, err: str, message: str) -> None:
            await error_response(code, err, message)(scope, receive, send_tracked)

        server.inflight += 1
        try:
            length = dict(scope.get("headers") or ()).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > limits.max_body_bytes:
                await reply(413, "too_large", f"the request body is {int(length)} bytes; this server takes at "
                            f"most {limits.max_body_bytes}")
            elif server.inflight > limits.max_inflight and scope["path"].startswith(("/v1/", "/api/")):
                await reply(429, "too_many_requests", f"the server is answering {limits.max_inflight} requests "
                            "already; retry shortly")
            else:
                await self.app(scope, _limited(receive, limits.max_body_bytes), send_tracked)
        except HTTPException as exc:  # only _limited's 413 gets this far out (FastAPI answers its own)
            if not status["sent"]:
                await reply(exc.status_code, "too_large", str(exc.detail))
        except Exception:
            logger.exception("internal error answering %s %s", scope.get("method"), scope.get("path"))
            if not status["sent"]:
                await reply(500, "internal", "internal server error (logged on the server)")
        finally:
            server.inflight -= 1
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or ("/static" if scope["path"].startswith("/static/")
                                                        else "unmatched")
            server.metrics.observe(scope.get("method", ""), template, status["code"], elapsed)
            access_log.info("%s %s %d %.1fms", scope.get("method"), scope["path"], status["code"], elapsed * 1000)


def _limited(receive, limit: int):
    """receive() that raises a 413 HTTPException once more than limit body bytes have arrived (chunked uploads);
    an HTTPException, so FastAPI's body parsing passes it on as it is."""
    seen = 0

    async def wrapped():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(413, f"the request body is over this server's limit of {limit} bytes")
        return message

    return wrapped


__all__ = ["Server", "create_app", "error_response"]
