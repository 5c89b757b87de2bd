"""The frame channel between this process and its host (engine/_frames.ts, engine/_protocol.ts).

A frame is ``[u32 header length][u32 body length][header: UTF-8 JSON][body]``, little endian.
SDK calls (``fused.run``, ``fused.load``, ``fused.download``) are "call" frames answered by
"reply" frames; frames for later runs that arrive meanwhile wait in ``pending``.
"""

import json
import socket
import struct
import threading
from collections import deque

_PREFIX = struct.Struct("<II")


class HostCallError(Exception):
    """An error the host answered a call with; ``name`` is the host's class name."""

    def __init__(self, name, message):
        super().__init__(message)
        self.name = name


class Channel:
    """One connection to the host, used by one run at a time."""

    def __init__(self, path):
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(path)
        self._file = self._sock.makefile("rb")
        self.pending = deque()
        self.run_id = 0
        self._next_call = 1
        self.folders = {}
        # A UDF's threads may print while it runs: one frame is written at a time.
        self._lock = threading.Lock()

    def send(self, header, parts=()):
        """Writes one frame; ``parts`` are concatenated into its body."""
        head = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
        size = sum(len(p) for p in parts)
        with self._lock:
            self._sock.sendall(_PREFIX.pack(len(head), size) + head)
            for part in parts:
                self._sock.sendall(part)

    def receive(self):
        """The next frame as ``(header, body)``, or None when the host closed the channel."""
        prefix = self._file.read(_PREFIX.size)
        if len(prefix) < _PREFIX.size:
            return None
        head_length, body_length = _PREFIX.unpack(prefix)
        header = json.loads(self._file.read(head_length))
        body = self._file.read(body_length) if body_length else b""
        return header, body

    def next_message(self):
        """The next frame that is not a reply: queued ones first."""
        if self.pending:
            return self.pending.popleft()
        return self.receive()

    def _send_call(self, method, args, body=b""):
        call = self._next_call
        self._next_call += 1
        self.send(
            {"type": "call", "id": self.run_id, "call": call, "method": method, "args": args},
            [body] if body else [],
        )
        return call

    def _reply(self):
        """The next reply frame's header and body; other frames wait in ``pending``."""
        while True:
            frame = self.receive()
            if frame is None:
                raise HostCallError("ProcessExit", "the host closed the channel")
            if frame[0].get("type") == "reply":
                return frame
            self.pending.append(frame)

    @staticmethod
    def _outcome(header, body):
        if header.get("ok"):
            return header.get("value"), body
        error = header.get("error") or {}
        return HostCallError(error.get("name", "Error"), error.get("message", ""))

    def call(self, method, args, body=b""):
        """Calls the host as the run's caller and waits for its answer: ``(value, body)``."""
        call = self._send_call(method, args, body)
        while True:
            header, reply_body = self._reply()
            if header.get("call") == call:
                outcome = self._outcome(header, reply_body)
                if isinstance(outcome, HostCallError):
                    raise outcome
                return outcome

    def call_all(self, method, args_list, limit, retries=0, retryable=lambda error: False):
        """Makes one call per entry of ``args_list``, at most ``limit`` waiting at a time (the host
        answers them concurrently); a failure ``retryable`` accepts is made again, at once, up to
        ``retries`` times. Returns, in order, ``(value, body)`` or the HostCallError of each."""
        results = [None] * len(args_list)
        attempts = [0] * len(args_list)
        queue = deque(range(len(args_list)))
        waiting = {}
        while queue or waiting:
            while queue and len(waiting) < limit:
                index = queue.popleft()
                waiting[self._send_call(method, args_list[index])] = index
            header, body = self._reply()
            index = waiting.pop(header.get("call"), None)
            if index is None:
                continue  # an answer to a call nobody waits for any more
            outcome = self._outcome(header, body)
            if isinstance(outcome, HostCallError) and attempts[index] < retries and retryable(outcome):
                attempts[index] += 1
                queue.append(index)
            else:
                results[index] = outcome
        return results


current = None
"""The channel of this process, once the runner connected (None when imported elsewhere)."""
