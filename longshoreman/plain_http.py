"""A minimal HTTP/1.1 client connection: POST a small body, read the answer, keep the connection alive.

The run worker's event sender uses it for plain-http control planes. http.client, with the email and ssl
modules it imports, costs ~14 ms of start-up in every run worker — more than a short job's own run time —
while the sender only ever POSTs small JSON bodies and reads short JSON answers. https URLs still go through
http.client (ssl is needed there anyway).
"""

from __future__ import annotations

import socket

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024


class ProtocolError(ConnectionError):
    """The server's answer is not HTTP/1.x as expected (an OSError: the connection is of no further use)."""


class PlainConnection:
    """One keep-alive connection to `host:port`; raises OSError or ProtocolError when it breaks."""

    def __init__(self, host: str, port: int | None, timeout_s: float) -> None:
        self._address = (host, port or 80)
        self._host_header = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
        self._timeout = timeout_s
        self._sock: socket.socket | None = None
        self._buffer = b""

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, bool]:
        """Send one POST and read its whole answer: (status, body, whether the server closes the connection)."""
        if self._sock is None:
            self._sock = _connect(self._address, self._timeout)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._buffer = b""
        lines = [f"POST {path} HTTP/1.1", f"Host: {self._host_header}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        status, fields = self._read_head()
        will_close = fields.get("connection", "").lower() == "close"
        if "chunked" in fields.get("transfer-encoding", "").lower():
            data = self._read_chunked()
        elif "content-length" in fields:
            data = self._read_exact(_number(fields["content-length"], 10))
        else:
            data, will_close = self._read_to_close(), True
        return status, data, will_close

    def close(self) -> None:
        """Close the connection (the next post opens a new one)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _read_head(self) -> tuple[int, dict[str, str]]:
        head = self._read_until(b"\r\n\r\n", MAX_HEAD_BYTES).decode("latin-1")
        status_line, *header_lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ProtocolError(f"not an HTTP answer: {status_line[:80]!r}")
        fields = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if sep:
                fields[name.strip().lower()] = value.strip()
        return _number(parts[1], 10), fields

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = _number(self._read_until(b"\r\n", 1024).split(b";")[0].decode("latin-1"), 16)
            if size == 0:
                while self._read_until(b"\r\n", MAX_HEAD_BYTES):
                    pass  # trailer fields, up to the empty line that ends the answer
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise ProtocolError("answer too large")
            chunks.append(self._read_exact(size))
            self._read_exact(2)  # the CRLF after each chunk

    def _read_until(self, marker: bytes, limit: int) -> bytes:
        """The bytes up to `marker`; the marker is consumed, not returned."""
        while marker not in self._buffer:
            if len(self._buffer) > limit:
                raise ProtocolError("answer head too large")
            self._recv()
        data, _, self._buffer = self._buffer.partition(marker)
        return data

    def _read_exact(self, size: int) -> bytes:
        if size > MAX_BODY_BYTES:
            raise ProtocolError("answer too large")
        self._fill(size)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _read_to_close(self) -> bytes:
        assert self._sock is not None
        while True:
            data = self._sock.recv(65536)
            if not data:
                break
            self._buffer += data
            if len(self._buffer) > MAX_BODY_BYTES:
                raise ProtocolError("answer too large")
        data, self._buffer = self._buffer, b""
        return data

    def _fill(self, size: int) -> None:
        while len(self._buffer) < size:
            self._recv()

    def _recv(self) -> None:
        assert self._sock is not None
        data = self._sock.recv(65536)
        if not data:
            raise ProtocolError("connection closed in the middle of an answer")
        self._buffer += data


def _connect(address: tuple[str, int], timeout_s: float) -> socket.socket:
    """A TCP connection to `address`; a numeric IP address (a local control plane's 127.0.0.1) is connected to as
    it is: the first getaddrinfo call of a process loads the resolver's modules and configuration, ~2.5 ms of CPU
    (and more wall time) in every run worker, for an answer known beforehand."""
    host, port = address
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout_s)
            sock.connect((host, port))
        except BaseException:
            sock.close()
            raise
        return sock
    return socket.create_connection(address, timeout_s)


def _number(text: str, base: int) -> int:
    try:
        return int(text.strip(), base)
    except ValueError:
        raise ProtocolError(f"not a number in the answer: {text[:40]!r}") from None
