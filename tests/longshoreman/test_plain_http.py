"""The run worker's minimal HTTP client against a real socket server giving each kind of HTTP/1.1 answer."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from longshoreman.plain_http import PlainConnection, ProtocolError

Reply = Callable[[bytes], list[bytes]]  # request head+body -> the chunks to send back (b"" = close)


class RawServer:
    """A TCP server on 127.0.0.1 that answers each request on a connection with the next scripted reply."""

    def __init__(self, replies: list[Reply]) -> None:
        self._replies = replies
        self.requests: list[bytes] = []
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while self._replies:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                while self._replies:
                    request = _read_request(conn)
                    if request is None:
                        break
                    self.requests.append(request)
                    closed = False
                    for chunk in self._replies.pop(0)(request):
                        if not chunk:
                            closed = True
                            break
                        conn.sendall(chunk)
                    if closed:
                        break

    def close(self) -> None:
        self._sock.close()


def _read_request(conn: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        part = conn.recv(65536)
        if not part:
            return None
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    lengths = [line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
    length = int(lengths[0])
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def fixed(status: str, body: bytes, extra: str = "") -> Reply:
    head = f"HTTP/1.1 {status}\r\ncontent-length: {len(body)}\r\n{extra}\r\n".encode()
    return lambda _request: [head, body]


@pytest.fixture
def serve() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(*replies: Reply) -> RawServer:
        servers.append(RawServer(list(replies)))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_posts_reuse_one_connection_and_send_the_headers_and_body(serve: Callable[..., RawServer]) -> None:
    server = serve(fixed("200 OK", b'{"accepted": 1}'), fixed("422 Unprocessable Entity", b'{"detail": "bad"}'))
    conn = PlainConnection("127.0.0.1", server.port, 5.0)

    first = conn.post("/api/runs/r1/events", b'{"events": []}', {"Authorization": "Bearer t"})
    second = conn.post("/api/runs/r1/logs", b"{}", {})

    assert first == (200, b'{"accepted": 1}', False) and second == (422, b'{"detail": "bad"}', False)
    assert server.connections == 1
    head = server.requests[0].decode()
    assert head.startswith("POST /api/runs/r1/events HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n" in head and "Authorization: Bearer t\r\n" in head
    assert head.endswith('\r\n\r\n{"events": []}')


def test_reads_chunked_answers_with_and_without_trailers(serve: Callable[..., RawServer]) -> None:
    chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    server = serve(
        lambda _r: [chunked, b"5\r\nhello\r\n", b"6;ext=1\r\n world\r\n0\r\n\r\n"],
        lambda _r: [chunked, b"3\r\nabc\r\n0\r\nx-trailer: 1\r\n\r\n"],
        fixed("200 OK", b"next"),
    )
    conn = PlainConnection("127.0.0.1", server.port, 5.0)

    assert conn.post("/a", b"", {}) == (200, b"hello world", False)
    assert conn.post("/b", b"", {}) == (200, b"abc", False)
    assert conn.post("/c", b"", {}) == (200, b"next", False)  # the stream stayed in step
    assert server.connections == 1


def test_an_answer_without_length_ends_with_the_connection(serve: Callable[..., RawServer]) -> None:
    server = serve(
        lambda _r: [b"HTTP/1.1 200 OK\r\n\r\n", b"until close", b""],
        fixed("200 OK", b"{}", extra="connection: close\r\n"),
    )
    conn = PlainConnection("127.0.0.1", server.port, 5.0)

    assert conn.post("/a", b"", {}) == (200, b"until close", True)
    conn.close()
    assert conn.post("/b", b"", {}) == (200, b"{}", True)
    assert server.connections == 2


@pytest.mark.parametrize(
    "reply",
    [
        [b"SSH-2.0-OpenSSH_9\r\n\r\n"],  # not HTTP
        [b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort", b""],  # cut short
        [b"HTTP/1.1 200 OK\r\ncontent-length: ten\r\n\r\n"],  # bad length
        [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"],  # bad chunk size
    ],
)
def test_a_broken_answer_is_a_connection_error(serve: Callable[..., RawServer], reply: list[bytes]) -> None:
    server = serve(lambda _r: reply)
    conn = PlainConnection("127.0.0.1", server.port, 5.0)

    with pytest.raises(ProtocolError) as caught:
        conn.post("/a", b"", {})
    assert isinstance(caught.value, OSError)  # the sender treats it like a dropped connection: retry later


def test_nothing_listening_is_an_os_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    with pytest.raises(OSError):
        PlainConnection("127.0.0.1", port, 2.0).post("/a", b"", {})


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_posts_to_an_ip_address_or_a_host_name(serve: Callable[..., RawServer], host: str) -> None:
    server = serve(fixed("200 OK", b"{}"))

    assert PlainConnection(host, server.port, 5.0).post("/a", b"{}", {}) == (200, b"{}", False)
    assert f"Host: {host}:{server.port}\r\n" in server.requests[0].decode()


def test_posts_to_an_ipv6_address() -> None:
    listener = socket.create_server(("::1", 0), family=socket.AF_INET6)  # the project's machines have ::1
    port = listener.getsockname()[1]
    answered: list[bytes] = []

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            answered.append(_read_request(conn) or b"")
            conn.sendall(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    with listener:
        assert PlainConnection("::1", port, 5.0).post("/a", b"{}", {}) == (204, b"", False)
        thread.join(5)
    assert f"Host: [::1]:{port}\r\n" in answered[0].decode()
