"""Running the app: `run_api` for `llmtuner api` (loads the engine, serves until Ctrl-C), and
`BackgroundServer` for tests and the benchmark (a real uvicorn server on a loopback port, in a thread).

The socket is bound here rather than by uvicorn so that port 0 (any free port) can be reported: one line
names the URL and the served models, never the keys.
"""

import ipaddress
import socket
import threading
import time
from typing import Any

import uvicorn

from ...extras.errors import ConfigError
from ...extras.logging import get_logger
from ...hparams import ServeConfig
from ..engine import load_serving_engine
from .app import create_app

logger = get_logger(__name__)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: only the resolver knows, so warn
        return False


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP, and without it every
    # response (headers and body written apart) waits ~40 ms for the client's delayed ACK (Nagle)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def uvicorn_server(app: Any, log_level: str = "info", access_log: bool = True) -> uvicorn.Server:
    # uvicorn's access log has method, path and status, never a body, so it may stay on
    return uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=access_log, lifespan="off",
                                         timeout_graceful_shutdown=10))


def run_api(config: ServeConfig) -> None:
    """`llmtuner api`: serve the configured model on host:port until interrupted."""
    assert config.api is not None, "parse_serve_args('api', ...) sets the api group"
    host = config.api.host
    if not is_loopback(host):
        logger.warning("Listening on %s: the API is reachable from the network. Serve it behind TLS (a reverse "
                       "proxy) and keep the keys secret; medical questions and answers travel over it.", host)
    try:
        sock = bind_socket(host, config.api.port)
    except OSError as error:
        raise ConfigError(f"cannot listen on {host}:{config.api.port} ({error.strerror}): is another server using "
                          "the port? Choose another with --port (0 = any free port).") from None
    engine = load_serving_engine(config)
    try:
        app = create_app(config, engine)
        print(f"llmtuner api: serving {', '.join(engine.model_names)} at {url_of(sock)}/v1", flush=True)
        uvicorn_server(app).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shut down gracefully on Ctrl-C, then re-raised it: a normal end
        pass
    finally:
        engine.close()
        sock.close()


class BackgroundServer:
    """A real uvicorn server for `app` on 127.0.0.1 (a free port), in a daemon thread; a context manager."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
        self.sock = bind_socket(host, port)
        self.url = url_of(self.sock)
        self.server = uvicorn_server(app, log_level=log_level, access_log=False)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, name="llmtuner-api",
                                       daemon=True)

    def __enter__(self) -> "BackgroundServer":
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()
