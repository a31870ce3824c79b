"""Idle sessions are cheap: ferryd holds 10,000 open SMTP sessions with a
bounded amount of memory and no thread per connection, and still serves a
new client while they sit there."""
import resource
import smtplib
import socket
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


class IdleSessionsTest(unittest.TestCase):
    def test_ten_thousand_idle_sessions(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard < N + 100:
            self.skipTest("RLIMIT_NOFILE hard limit %d too low" % hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        f = Ferryd(extra="max_connections_per_client %d\nmax_connections %d" % (N + 10, N + 10),
                   listeners=("mx",)).start()
        socks = []
        try:
            rss0, threads0 = status(f.proc.pid)
            # spread over source addresses so the client side has enough ports
            for i in range(N):
                s = socket.socket()
                s.bind(("127.0.%d.%d" % (1 + i // 250, 1 + i % 250), 0))
                s.connect(("127.0.0.1", f.mx))
                socks.append(s)
            for s in socks:   # every one is a live session with its greeting
                s.settimeout(30)
                self.assertTrue(s.recv(100).startswith(b"220 "))
            rss1, threads1 = status(f.proc.pid)
            with smtplib.SMTP("127.0.0.1", f.mx, timeout=30) as c:
                c.sendmail("a@s.test", ["alice@example.test"], b"Subject: x\r\n\r\nhi\r\n")
        finally:
            for s in socks:
                s.close()
            f.stop()
        per_session = (rss1 - rss0) * 1024 / N
        print("10000 idle sessions: +%d KiB RSS (%.0f bytes each), threads %d -> %d"
              % (rss1 - rss0, per_session, threads0, threads1))
        self.assertEqual(threads1, threads0)          # no thread per connection
        # generous bound: the test build runs under AddressSanitizer
        self.assertLess(per_session, 64 * 1024)


if __name__ == "__main__":
    ferrytest.main()
