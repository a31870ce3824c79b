#!/usr/bin/env python3
"""test_counters_shared - two ferryd nodes sharing their counters in a real
redis-server (`counters redis://...`), started by the test on a free
loopback port in its own directory and stopped by its pid:

- a tenant's hourly limit holds exactly across both nodes under concurrent
  submissions (10 an hour: 10 accepted in all, the rest 451 4.7.1), and
  `ferryctl tenant show` on either node reads the shared usage;
- the warm-up cap of a pool address (3 today) holds across both nodes'
  deliveries from it;
- a provider's rate (2 a minute) holds across both nodes' deliveries;
- Redis killed during sending: the node with `counters_failure closed`
  refuses tenant mail with 451 4.3.0, the one with `open` accepts it
  (event=counters-fallback); every message either node said 250 to is in
  its queue; when redis-server is back on its port both count there again;
- a reload that changes `counters` warns and keeps the running counters.

Each node has its own state database until the state moves to PostgreSQL:
the tenants are made in the same order on both, so they have the same ids
and so the same counter keys.
"""
import os
import smtplib
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import ferrytest  # noqa: E402
import pgserver  # noqa: E402
from ferrytest import Ferryd, tls_context, wait_for  # noqa: E402


class Redis(pgserver.RedisServer):
    """The tests' throwaway redis-server (pgserver.py), killed as a crash
    would, and asked one command at a time."""

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        self.log.close()

    def command(self, *words):
        """One command over RESP; the raw reply line(s)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(("*%d\r\n" % len(words) + "".join(
                "$%d\r\n%s\r\n" % (len(w), w) for w in words)).encode())
            return s.recv(65536).decode()


class Receiver:
    """A minimal SMTP receiver on loopback counting messages by peer address."""

    def __init__(self, addr="127.0.0.1"):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.peers = []
        self.lock = threading.Lock()
        self.stopping = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stopping:
            try:
                c, addr = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(c, addr[0]), daemon=True).start()

    def session(self, c, peer):
        f = c.makefile("rb")
        try:
            c.sendall(b"220 rx.test ESMTP\r\n")
            for line in f:
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    c.sendall(b"250 rx.test\r\n")
                elif verb == b"DATA":
                    c.sendall(b"354 go on\r\n")
                    for body in f:
                        if body == b".\r\n":
                            break
                    with self.lock:
                        self.peers.append(peer)
                    c.sendall(b"250 2.0.0 taken\r\n")
                elif verb == b"QUIT":
                    c.sendall(b"221 bye\r\n")
                    return
                else:
                    c.sendall(b"250 ok\r\n")
        except OSError:
            pass
        finally:
            c.close()

    def count(self, peer):
        with self.lock:
            return self.peers.count(peer)

    def stop(self):
        self.stopping = True
        self.sock.close()


def message(frm, i):
    return ("From: %s\r\nTo: <x@far.test>\r\nSubject: %d\r\nDate: %s\r\n"
            "Message-ID: <%d.%f@test>\r\n\r\nhi\r\n"
            % (frm, i, time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()), i,
               time.time())).encode()


def send_one(node, key, frm, i):
    """One message over one submission session: (code, text) of the end of
    DATA, or of the refusal before it."""
    try:
        with smtplib.SMTP("127.0.0.1", node.submission, timeout=60) as s:
            s.starttls(context=tls_context())
            s.login("apikey", key)
            s.sendmail(frm, ["x@far.test"], message(frm, i))
            return 250, ""
    except smtplib.SMTPResponseException as e:
        return e.smtp_code, e.smtp_error.decode(errors="replace")
    except smtplib.SMTPRecipientsRefused as e:
        code, text = list(e.recipients.values())[0]
        return code, text.decode(errors="replace")
    except smtplib.SMTPSenderRefused as e:
        return e.smtp_code, e.smtp_error.decode(errors="replace")


class SharedCountersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = Redis().start()
        cls.rx = Receiver()
        cls.rx_prov = Receiver("127.0.0.3")      # a provider's host: 2 a minute
        uri = "redis://127.0.0.1:%d" % cls.redis.port
        common = ("counters %s\nroute * smtp:127.0.0.1:%d\nsmtp_tls none\n"
                  "route prov.test smtp:127.0.0.3:%d\nprovider prov 127.0.0.3 rate=2\n"
                  "pool p-warm\npool_address p-warm 127.0.0.2 warmup=3,100\n"
                  % (uri, cls.rx.port, cls.rx_prov.port))
        # A fails closed, B fails open: one Redis outage shows both.
        cls.a = Ferryd(deliver=True, domains=("ferry.test",), mailboxes=("postmaster@ferry.test",),
                       extra=common + "counters_failure closed\n").start()
        cls.b = Ferryd(deliver=True, domains=("ferry.test",), mailboxes=("postmaster@ferry.test",),
                       extra=common + "counters_failure open\n").start()
        cls.keys = {}
        for n in (cls.a, cls.b):
            # the same order on both: the same ids, so the same counter keys
            n.ctl("tenant", "add", "acme")
            n.ctl("tenant", "add", "beta")
            n.ctl("tenant", "add", "warm", "--pool", "p-warm")
            for t in ("acme", "beta", "warm"):
                n.ctl("domain", "add", t, t + ".test")
            n.ctl("tenant", "limit", "acme", "--per-hour", "10")
            cls.keys[n] = {t: n.ctl("key", "create", t).stdout.splitlines()[0].strip()
                           for t in ("acme", "beta", "warm")}

    @classmethod
    def tearDownClass(cls):
        cls.a.stop()
        cls.b.stop()
        cls.rx.stop()
        cls.rx_prov.stop()
        cls.redis.stop()

    def test_1_hourly_limit_across_nodes(self):
        # An hour boundary would start a new window halfway (a precondition,
        # not a timing assertion).
        if time.gmtime().tm_min == 59 and time.gmtime().tm_sec >= 30:
            time.sleep(61 - time.gmtime().tm_sec)
        results = []
        lock = threading.Lock()

        def sender(node, first):
            for i in range(first, first + 6):
                r = send_one(node, self.keys[node]["acme"], "news@acme.test", i)
                with lock:
                    results.append(r)

        threads = [threading.Thread(target=sender, args=(n, k * 100))
                   for k, n in enumerate((self.a, self.b, self.a, self.b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ok = [r for r in results if r[0] == 250]
        refused = [r for r in results if r[0] != 250]
        self.assertEqual(len(ok), 10, results)
        self.assertEqual(len(refused), 14, results)
        for code, text in refused:
            self.assertEqual(code, 451, text)
            self.assertIn("4.7.1 Rate limit reached: tenant acme may send 10 messages per hour", text)
        for n in (self.a, self.b):
            self.assertIn("hour 10/10", n.ctl("tenant", "show", "acme").stdout)
        self.assertIn("10", self.redis.command("GET", "ferry:c:{t:1}:3600:%d" % (
            time.time() // 3600 * 3600)))

    def test_2_warmup_cap_across_nodes(self):
        for i in range(3):
            for n in (self.a, self.b):
                self.assertEqual(send_one(n, self.keys[n]["warm"], "news@warm.test", i)[0], 250)
        capped = "every address reached its warm-up cap for today"
        self.assertTrue(wait_for(lambda: self.rx.count("127.0.0.2") == 3 and
                                 (self.a.log_text() + self.b.log_text()).count(capped) >= 3 and
                                 len(self.a.queue_files()) + len(self.b.queue_files()) == 3,
                                 timeout=60),
                        "%d delivered; %s" % (self.rx.count("127.0.0.2"),
                                              (self.a.log_text() + self.b.log_text()).count(capped)))
        time.sleep(1)          # nothing more goes out (a late fourth would show)
        self.assertEqual(self.rx.count("127.0.0.2"), 3)
        self.assertEqual(len(self.a.queue_files()) + len(self.b.queue_files()), 3)

    def test_3_redis_lost_and_back(self):
        beta = "news@beta.test"
        self.redis.kill()
        code, text = send_one(self.a, self.keys[self.a]["beta"], beta, 1)
        self.assertEqual(code, 451, text)
        self.assertIn("4.3.0", text)
        queued_b = len(self.b.queue_files())
        self.assertEqual(send_one(self.b, self.keys[self.b]["beta"], beta, 2)[0], 250)
        self.assertEqual(len(self.b.queue_files()), queued_b + 1)   # acknowledged: on disk
        self.assertIn("event=counters-unavailable", self.a.log_text())
        self.assertIn("event=counters-fallback", self.b.log_text())
        # the usage readers say they cannot read it, rather than 0
        self.assertIn("hour ?/none", self.a.ctl("tenant", "show", "beta").stdout)
        self.redis.start()                      # the same port, empty
        self.assertTrue(wait_for(lambda: send_one(self.a, self.keys[self.a]["beta"], beta, 3)[0] == 250,
                                 timeout=30), self.a.log_text()[-2000:])
        self.assertTrue(wait_for(lambda: send_one(self.b, self.keys[self.b]["beta"], beta, 4)[0] == 250 and
                                 "event=counters-recovered" in self.b.log_text(), timeout=30),
                        self.b.log_text()[-2000:])
        self.assertIn("event=counters-recovered", self.a.log_text())
        # counted in Redis again: the tenant's hour there has A's and B's
        self.assertTrue(wait_for(lambda: self.redis.command(
            "GET", "ferry:c:{t:2}:3600:%d" % (time.time() // 3600 * 3600)) not in ("$-1\r\n", ""),
            timeout=5))

    def test_4_provider_rate_across_nodes(self):
        # A minute boundary would open a new window halfway (a precondition).
        if time.gmtime().tm_sec >= 30:
            time.sleep(61 - time.gmtime().tm_sec)
        for i in range(3):
            for n in (self.a, self.b):
                with smtplib.SMTP("127.0.0.1", n.submission, timeout=60) as s:
                    s.starttls(context=tls_context())
                    s.login("apikey", self.keys[n]["beta"])
                    s.sendmail("news@beta.test", ["y@prov.test"], message("news@beta.test", i))
        limited = "provider prov: rate limit 2/min"
        self.assertTrue(wait_for(lambda: self.rx_prov.count("127.0.0.1") == 2 and
                                 (self.a.log_text() + self.b.log_text()).count(limited) >= 4,
                                 timeout=25),
                        "%d delivered; %d limited" % (self.rx_prov.count("127.0.0.1"),
                                                      (self.a.log_text() + self.b.log_text()).count(limited)))
        self.assertEqual(self.rx_prov.count("127.0.0.1"), 2)

    def test_5_reload_keeps_counters(self):
        # counters is read at start only: a reload that changes it says so
        # and keeps counting in Redis.
        with open(self.a.conf) as f:
            text = f.read()
        uri_line = "counters redis://127.0.0.1:%d\n" % self.redis.port
        self.assertIn(uri_line, text)
        with open(self.a.conf, "w") as f:
            f.write(text.replace(uri_line, "counters local\n"))
        offset = len(self.a.log_text())
        self.a.hup()
        self.assertTrue(wait_for(lambda: "event=reloaded" in self.a.log_text()[offset:], timeout=10),
                        self.a.log_text()[offset:])
        self.assertIn("counters and counters_failure changes need a restart", self.a.log_text()[offset:])
        key = "ferry:c:{t:2}:86400:%d" % (time.time() // 86400 * 86400)
        before = self.redis.command("GET", key)
        self.assertEqual(send_one(self.a, self.keys[self.a]["beta"], "news@beta.test", 9)[0], 250)
        self.assertNotEqual(self.redis.command("GET", key), before)


if __name__ == "__main__":
    ferrytest.main()
