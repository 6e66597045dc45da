"""A tiny HTTP server that answers badly on purpose (echoes, garbage, trickles, cuts off): the kinds of
answer a proxy or a broken network gives, which no exchange simulator should produce."""

import socket
import threading
import time


class HostileServer:
    def __init__(self, answer):
        """`answer(request: bytes, conn: socket.socket)` writes whatever it likes to `conn`."""
        self._answer = answer
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.requests: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        with conn:
            conn.settimeout(2)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, rest = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + rest)
                self._answer(head + b"\r\n\r\n" + rest, conn)
            except OSError:
                pass

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self._sock.close()


def reply(status: int, body: bytes, content_type: str = "text/html", headers: dict | None = None) -> bytes:
    # One request per connection: say so, or the client would reuse a socket this server is closing.
    lines = [f"HTTP/1.1 {status} Whatever", f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    lines.append("Connection: close")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def trickle(conn, data: bytes, every: float):
    """Sends `data` a byte at a time, `every` seconds apart: real intervals on purpose, as what is tested is
    the client's read timeout on a real socket (no clock the test could move is involved)."""
    for byte in data:
        conn.sendall(bytes([byte]))
        time.sleep(every)
