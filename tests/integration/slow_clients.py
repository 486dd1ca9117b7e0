#!/usr/bin/env python3
# slow_clients.py - the slow-client attack of issue 11 (finding 4), bounded and on loopback
# only, for tests/integration/test_slow_clients.sh.
#
#   slow_clients.py --target HOST:PORT ... --probe URL ... [--conns 1100] [--hold 20]
#                   [--step 3] [--deadline 15]
#
# Against each --target it holds --conns connections (half from 127.0.0.1, half from
# 127.0.0.2) that send a request line and then one header byte every --step seconds, never
# finishing the head; a connection the server closes is reopened at its next step, as an
# attacker would. Meanwhile it fetches every --probe URL (GET /healthz, from 127.0.0.1)
# every 2 s for --hold seconds; each must answer 200 within 3 s. A separate connection from
# 127.0.0.3 trickles one byte a second to the first target: the server must close it between
# --deadline - 1 and --deadline + 4 seconds after it connected, although it never stops
# sending. Exits 0 if all of that holds, 1 otherwise; prints one line per check.
import argparse
import collections
import errno
import resource
import socket
import sys
import threading
import time


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def open_conn(host, port, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.setblocking(False)
    try:
        s.connect((host, port))
    except BlockingIOError:
        pass
    return s


class Trickler:
    """One slot: a connection that never finishes its request head."""

    def __init__(self, host, port, src, due):
        self.host, self.port, self.src = host, port, src
        self.sock = None
        self.sent = 0
        self.due = due
        self.opened = 0
        self.closed_by_server = 0

    def step(self, now):
        if self.sock is None:
            self.sock = open_conn(self.host, self.port, self.src)
            self.sent = 0
            self.opened += 1
            return
        try:
            # Anything readable on a connection that sent no complete request is the server
            # closing it (or answering an error before closing).
            data = self.sock.recv(4096)
            if data == b"" or data:
                self.sock.close()
                self.sock = None
                self.closed_by_server += 1
                return
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOTCONN, errno.EINPROGRESS):
                self.sock.close()
                self.sock = None
                self.closed_by_server += 1
                return
        chunk = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " if self.sent == 0 else b"a"
        try:
            self.sock.send(chunk)
            self.sent += len(chunk)
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOTCONN, errno.EINPROGRESS):
                return
            self.sock.close()
            self.sock = None
            self.closed_by_server += 1


def probe(url, timeout=3.0):
    """GET url (http://127.0.0.1:PORT/healthz) on a fresh connection; (status, seconds)."""
    hostport, path = url[len("http://"):].split("/", 1)
    host, port = hostport.split(":")
    t0 = time.monotonic()
    try:
        s = socket.create_connection((host, int(port)), timeout=timeout)
        s.settimeout(max(0.1, timeout - (time.monotonic() - t0)))
        s.sendall(("GET /%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
        data = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
        s.close()
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    except (OSError, ValueError, IndexError):
        status = 0
    return status, time.monotonic() - t0


def deadline_check(host, port, result):
    """Trickles a byte a second from 127.0.0.3; records when the server closed it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.3", 0))
    s.connect((host, port))
    t0 = time.monotonic()
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    s.settimeout(1.0)
    while time.monotonic() - t0 < 40:
        try:
            d = s.recv(4096)
            if not d:
                break
        except socket.timeout:
            pass
        except OSError:
            break
        try:
            s.send(b"a")
        except OSError:
            break
    result["closed_after"] = time.monotonic() - t0
    s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", action="append", required=True)
    ap.add_argument("--probe", action="append", required=True)
    ap.add_argument("--conns", type=int, default=1100)
    ap.add_argument("--hold", type=float, default=20.0)
    ap.add_argument("--step", type=float, default=3.0)
    ap.add_argument("--deadline", type=float, default=15.0)
    a = ap.parse_args()

    need = a.conns * len(a.target) + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            fail("RLIMIT_NOFILE hard limit %d is below the %d descriptors needed" % (hard, need))
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))

    slots = []
    t0 = time.monotonic()
    for t in a.target:
        host, port = t.split(":")
        for i in range(a.conns):
            src = "127.0.0.1" if i % 2 == 0 else "127.0.0.2"
            # Spread the steps so that the server sees a steady trickle, not bursts.
            slots.append(Trickler(host, int(port), src, t0 + a.step * i / a.conns))
    for sl in slots:
        sl.step(t0)
    print("ok - opened %d slow connections (%d per target, from 127.0.0.1 and 127.0.0.2)"
          % (len(slots), a.conns))

    dl = {}
    host, port = a.target[0].split(":")
    th = threading.Thread(target=deadline_check, args=(host, int(port), dl), daemon=True)
    th.start()

    probes, worst, bad = 0, 0.0, []
    next_probe = time.monotonic()
    end = t0 + a.hold
    queue = collections.deque(sorted(slots, key=lambda sl: sl.due))  # in due order
    while time.monotonic() < end:
        now = time.monotonic()
        while queue and queue[0].due <= now:
            sl = queue.popleft()
            sl.step(now)
            sl.due = now + a.step
            queue.append(sl)
        if now >= next_probe:
            for u in a.probe:
                st, secs = probe(u)
                probes += 1
                worst = max(worst, secs)
                if st != 200 or secs > 3.0:
                    bad.append("%s -> %s in %.2fs" % (u, st or "no answer", secs))
            next_probe = time.monotonic() + 2.0
        time.sleep(0.02)

    held = sum(1 for sl in slots if sl.sock is not None)
    closed = sum(sl.closed_by_server for sl in slots)
    print("ok - held %d connections at the end; the servers closed %d along the way" % (held, closed))
    if bad:
        fail("/healthz did not answer 200 within 3 s: " + "; ".join(bad[:10]))
    print("ok - /healthz answered 200 within 3 s %d times over %.0f s (slowest %.2f s)"
          % (probes, a.hold, worst))

    th.join(timeout=max(0.0, a.deadline + 6 - (time.monotonic() - t0)))
    after = dl.get("closed_after")
    if after is None:
        fail("a connection trickling a byte a second was still open after %.0f s" % (a.deadline + 6))
    if not (a.deadline - 1 <= after <= a.deadline + 4):
        fail("the trickling connection was closed after %.1f s, not at the %.0f s head deadline"
             % (after, a.deadline))
    print("ok - a connection trickling a byte a second was closed after %.1f s (head deadline %.0f s)"
          % (after, a.deadline))
    for sl in slots:
        if sl.sock is not None:
            sl.sock.close()


if __name__ == "__main__":
    main()
