"""Idle sessions are cheap and bursts are queued: ferryd holds 10,000 SMTP
sessions opened all at once with a bounded amount of memory and no thread
per connection, greets every one, and still serves a new client while they
sit there. Its listening sockets queue as many connections as the kernel
allows (listen_backlog 0: net.core.somaxconn), not a fixed 128 or 1024.

The figures (RSS per session, how many were greeted within 30 s, the
kernel's listen-overflow count) are printed, not asserted: the machine is
shared. Run against the release build for the figure without ASan:
FERRY_BIN=build/release /usr/bin/python3 tests/integration/test_scale.py"""
import resource
import selectors
import smtplib
import socket
import subprocess
import time
import unittest

import ferrytest
from ferrytest import Ferryd

N = 10000


def status(pid):
    vals = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, v = line.split(":", 1)
            vals[k] = v.strip()
    return int(vals["VmRSS"].split()[0]), int(vals["Threads"])


def somaxconn():
    with open("/proc/sys/net/core/somaxconn") as f:
        return int(f.read())


def listen_overflows():
    """TcpExtListenOverflows, system-wide (printed only: others share it)."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            return dict(zip(names.split()[1:], map(int, values.split()[1:])))["ListenOverflows"]
    return 0


def backlogs(port):
    """The backlog of each socket listening on port (ss shows it as Send-Q)."""
    out = subprocess.run(["ss", "-Hltn", "sport = :%d" % port], capture_output=True,
                         text=True, check=True).stdout
    return [int(line.split()[2]) for line in out.splitlines()]


class ListenBacklogTest(unittest.TestCase):
    def test_default_is_the_system_maximum(self):
        f = Ferryd(listeners=("mx",)).start()
        try:
            found = backlogs(f.mx)
        finally:
            f.stop()
        self.assertEqual(found, [somaxconn()] * 2)     # workers 2: one socket each

    def test_configured(self):
        f = Ferryd(listeners=("mx",), extra="listen_backlog 300").start()
        try:
            found = backlogs(f.mx)
        finally:
            f.stop()
        self.assertEqual(found, [300, 300])


def open_all(port, n):
    """n non-blocking connects at once, from 127.0.x.y sources (enough
    ephemeral ports); returns the sockets."""
    socks = []
    for i in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.bind(("127.0.%d.%d" % (1 + i // 250, 1 + i % 250), 0))
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
    return socks


def wait_greetings(socks, start, timeout):
    """Read each socket's greeting; returns ({sock: first line}, [seconds
    after start at which each arrived])."""
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    got, times = {}, []
    while len(got) < len(socks) and time.time() - start < timeout:
        for key, _ in sel.select(timeout=1):
            try:
                data = key.fileobj.recv(512)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as e:
                data = ("error %s" % e).encode()
            got[key.fileobj] = data
            times.append(time.time() - start)
            sel.unregister(key.fileobj)
    sel.close()
    return got, times


class IdleSessionsTest(unittest.TestCase):
    def test_ten_thousand_sessions_opened_at_once(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard < N + 100:
            self.skipTest("RLIMIT_NOFILE hard limit %d too low" % hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        f = Ferryd(extra="max_connections_per_client %d\nmax_connections %d" % (N + 10, N + 10),
                   listeners=("mx",)).start()
        socks = []
        try:
            rss0, threads0 = status(f.proc.pid)
            overflows0 = listen_overflows()
            start = time.time()
            socks = open_all(f.mx, N)
            opened = time.time() - start
            got, times = wait_greetings(socks, start, timeout=300)
            overflows = listen_overflows() - overflows0
            bad = [d for d in got.values() if not d.startswith(b"220 ")]
            self.assertEqual((len(got), bad[:3]), (N, []))   # every one a live session
            rss1, threads1 = status(f.proc.pid)
            # a new client while the 10,000 sit there: greeted, its message accepted
            with smtplib.SMTP("127.0.0.1", f.mx, timeout=60) as c:
                c.sendmail("a@s.test", ["alice@example.test"], b"Subject: x\r\n\r\nhi\r\n")
        finally:
            for s in socks:
                s.close()
            f.stop()
        per_session = (rss1 - rss0) * 1024 / N
        print("\n%d sessions opened at once (connects issued in %.1f s): all greeted after %.1f s "
              "(%d within 30 s); "
              "listen overflows %d (system-wide); +%d KiB RSS (%.0f bytes = %.1f KiB each); "
              "threads %d -> %d" % (N, opened, max(times), sum(t <= 30 for t in times), overflows,
                                    rss1 - rss0, per_session, per_session / 1024,
                                    threads0, threads1))
        self.assertEqual(threads1, threads0)          # no thread per connection
        # generous bound: the test build runs under AddressSanitizer
        self.assertLess(per_session, 64 * 1024)


if __name__ == "__main__":
    ferrytest.main()
