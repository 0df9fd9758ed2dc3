"""A small TCP proxy on 127.0.0.1 that misbehaves on demand, in front of a real server
(moto's S3, the fake MLflow server).

Modes (settable while it runs): ``pass`` forwards both ways; ``stall`` accepts the
connection, reads the request and never answers; ``delay`` waits ``delay_s`` before
forwarding; ``reset`` closes each connection at once with a TCP reset; ``503`` answers
every request with HTTP 503 and closes.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time


class FaultProxy:
    def __init__(self, target_host: str, target_port: int, mode: str = "pass") -> None:
        self.target = (target_host, target_port)
        self._mode = mode
        self.delay_s = 0.0
        self.connections = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        """Switch mode; open connections are dropped, so kept-alive ones see it too."""
        self._mode = value
        self._drop_open()

    def _drop_open(self) -> None:
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()
        self._drop_open()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.append(sock)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._track(client)
            threading.Thread(target=self._handle, args=(client, self.mode), daemon=True).start()

    def _handle(self, client: socket.socket, mode: str) -> None:
        if mode == "reset":
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            return
        if mode == "stall":
            client.settimeout(1.0)
            while not self._stop.wait(0.2):
                with contextlib.suppress(TimeoutError, OSError):
                    if client.recv(65536) == b"":
                        break
            return
        if mode == "503":
            client.settimeout(5)
            with contextlib.suppress(OSError):
                client.recv(65536)
                body = b'{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "down"}'
                client.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close"
                    b"\r\n\r\n" + body
                )
            client.close()
            return
        if mode == "delay":
            time.sleep(self.delay_s)
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            client.close()
            return
        self._track(upstream)
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while not self._stop.is_set():
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
