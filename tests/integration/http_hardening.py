#!/usr/bin/env python3
# http_hardening.py - raw-socket probes for tests/integration/test_http_hardening.sh (issue 11,
# findings 3 and 13), loopback only. Subcommands:
#
#   bigbody URL COUNT MIB     COUNT parallel unsigned POSTs of MIB MiB (application/octet-stream)
#                             to URL; each must get one complete HTTP answer. Prints the statuses.
#   framing HOST:PORT PATH    malformed framings and content types; each must get exactly one
#                             well-formed response (one status line, a body of exactly
#                             Content-Length bytes) with the expected status.
#   deepjson URL              an unauthenticated JSON body nested 9 deep; must answer 400 with a
#                             message that names the nesting.
#   child UPPID WORD...       the pid of UPPID's child process whose command line has every WORD.
import os
import socket
import sys
import threading


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def hostport(url):
    hp = url[len("http://"):].split("/", 1)
    host, port = hp[0].split(":")
    return host, int(port), "/" + (hp[1] if len(hp) > 1 else "")


def read_all(s):
    data = b""
    while True:
        try:
            d = s.recv(65536)
        except socket.timeout:
            data += b"<timeout>"
            break
        except ConnectionResetError:
            break
        if not d:
            break
        data += d
    return data


def one_response(data):
    """(status, body) if data is exactly one well-formed response, else None."""
    if not data.startswith(b"HTTP/1.1 "):
        return None
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = data.split(b"\r\n")
    if sum(1 for line in lines if line.startswith(b"HTTP/1.")) != 1:
        return None
    cl = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    if len(cl) != 1 or int(cl[0].split(b":", 1)[1]) != len(body):
        return None
    return int(data[9:12]), body


def bigbody(url, count, mib):
    host, port, path = hostport(url)
    results = [None] * count
    chunk = b"\0" * (1 << 20)

    def send(i):
        s = socket.create_connection((host, port), timeout=60)
        s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                   "Content-Length: %d\r\nConnection: close\r\n\r\n" % (path, mib << 20)).encode())
        try:
            for _ in range(mib):
                s.sendall(chunk)
        except OSError:
            pass  # the server may answer and close early: read what it said
        results[i] = one_response(read_all(s))
        s.close()

    ths = [threading.Thread(target=send, args=(i,)) for i in range(count)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    if any(r is None for r in results):
        fail("a %d MiB upload got no complete answer" % mib)
    print(" ".join(str(r[0]) for r in results))


FRAMING = [
    (b"Content-Length: -5\r\nContent-Type: application/json", b"hello", 400, "a negative Content-Length"),
    (b"Content-Length: 5, 5\r\nContent-Type: application/json", b"hello", 400, "a Content-Length list"),
    (b"Content-Length: 99999999999999999999999\r\nContent-Type: application/json", b"hello", 413,
     "a Content-Length over 64 bits"),
    (b"Content-Length: 5\r\nContent-Length: 7\r\nContent-Type: application/json", b"hello", 400,
     "two differing Content-Lengths"),
    (b"Content-Length: 5\r\nContent-Length: 5\r\nContent-Type: application/json", b"hello", 400,
     "two equal Content-Lengths"),
    (b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json",
     b"5\r\nhello\r\n0\r\n\r\n", 400, "Content-Length with Transfer-Encoding"),
    (b"Transfer-Encoding: gzip, chunked\r\nContent-Type: application/json", b"5\r\nhello\r\n0\r\n\r\n", 501,
     "Transfer-Encoding gzip"),
    (b"Content-Length: 5", b"hello", 415, "a body without Content-Type"),
    (b"Content-Length: 5\r\nContent-Type: text/plain", b"hello", 415, "a text/plain body"),
]


def framing(target, path):
    host, port = target.split(":")
    for hdrs, body, want, what in FRAMING:
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + hdrs +
                  b"\r\nConnection: close\r\n\r\n" + body)
        data = read_all(s)
        s.close()
        r = one_response(data)
        if r is None:
            fail("%s: not exactly one well-formed response: %r" % (what, data[:400]))
        if r[0] != want:
            fail("%s: status %d, want %d: %r" % (what, r[0], want, data[:400]))
        print("ok - %s: one %d response" % (what, want))


def deepjson(url):
    host, port, path = hostport(url)
    body = b'{"a":' * 9 + b"1" + b"}" * 9
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
               "Connection: close\r\n\r\n" % (path, len(body))).encode() + body)
    data = read_all(s)
    s.close()
    r = one_response(data)
    if r is None or r[0] != 400 or b"nested" not in r[1]:
        fail("JSON nested 9 deep: want 400 naming the nesting, got %r" % data[:400])
    print("ok - JSON nested 9 deep: 400 %s" % r[1].decode())


def child(uppid, words):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == uppid and all(w.encode() in argv for w in words):
            print(pid)
            return
    fail("no child of %d runs %s" % (uppid, " ".join(words)))


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "bigbody" and len(sys.argv) == 5:
        bigbody(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "framing" and len(sys.argv) == 4:
        framing(sys.argv[2], sys.argv[3])
    elif cmd == "deepjson" and len(sys.argv) == 3:
        deepjson(sys.argv[2])
    elif cmd == "child" and len(sys.argv) >= 4:
        child(int(sys.argv[2]), sys.argv[3:])
    else:
        fail("usage: see the top of this file")


if __name__ == "__main__":
    main()
