"""Deadlines against clients that trickle bytes (slowloris): a whole command
line, and a whole DATA transfer, must arrive in time however often single
bytes come (the idle timeouts alone restart on every byte). Real sockets
over loopback; the tricklers send a byte every half second, far inside the
idle timeout, so only a deadline can end them."""
import select
import smtplib
import socket
import time
import unittest

import ferrytest
from ferrytest import Ferryd, RawClient

MSG = b"From: a@sender.test\r\nTo: alice@example.test\r\nSubject: slow\r\n\r\n"


def trickle(c, data, interval=0.5):
    """Send data one byte per interval until the server answers or closes.
    Returns (bytes sent, what the server said meanwhile)."""
    heard = b""
    for i in range(len(data)):
        try:
            c.sock.send(data[i:i + 1])
        except OSError:
            return i, heard
        r, _, _ = select.select([c.sock], [], [], interval)
        if r:
            try:
                chunk = c.sock.recv(4096)
            except OSError:
                chunk = b""
            heard += chunk
            if not chunk or b"\n" in heard:
                return i + 1, heard
    return len(data), heard


class DeadlineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.f = Ferryd(extra="timeout_command 3\ntimeout_data 3").start()

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()

    def raw(self):
        c = RawClient(self.f.mx, timeout=30)
        self.assertEqual(c.reply()[0], 220)
        self.addCleanup(c.close)
        return c

    def test_command_line_trickle_is_cut(self):
        c = self.raw()
        self.assertEqual(c.cmd("EHLO trickle.test")[0], 250)
        line = b"NOOP " + b"x" * 40 + b"\r\n"
        sent, heard = trickle(c, line)
        self.assertLess(sent, len(line), "the whole line got through: %r" % heard)
        self.assertTrue(heard.startswith(b"421 4.4.2 "), heard)
        self.assertTrue(c.closed())
        self.assertTrue(ferrytest.wait_for(
            lambda: "state=command reason=deadline" in self.f.log_text(), 10))

    def test_idle_timeout_returns_after_a_commit(self):
        # The wait for the committer has no idle timeout (the server's
        # turn); once the 250 is sent an idle client is cut again (by the
        # idle timeout or the command deadline), never held forever.
        c = self.raw()
        self.assertEqual(c.cmd("EHLO idle.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@remote.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        self.assertEqual(c.cmd("Subject: idle\r\n\r\nx\r\n.")[0], 250)
        # nothing sent: the idle timeout speaks (the client's own 30 s
        # socket timeout fails the test if it never does)
        self.assertEqual(c.reply()[0], 421)

    def test_data_trickle_is_cut(self):
        before = self.f.queue_files()
        c = self.raw()
        c.cmd("EHLO trickle.test")
        self.assertEqual(c.cmd("MAIL FROM:<a@sender.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        body = MSG + b"y" * 60 + b"\r\n.\r\n"
        sent, heard = trickle(c, body)
        self.assertLess(sent, len(body), "the whole message got through: %r" % heard)
        self.assertTrue(heard.startswith(b"421 4.4.2 "), heard)
        self.assertTrue(ferrytest.wait_for(
            lambda: "state=data reason=deadline" in self.f.log_text(), 10))
        self.assertEqual(self.f.queue_files(), before)

    def test_bdat_trickle_is_cut(self):
        c = self.raw()
        c.cmd("EHLO trickle.test")
        self.assertEqual(c.cmd("MAIL FROM:<a@sender.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        chunk = MSG + b"y" * 60 + b"\r\n"
        c.send(b"BDAT %d LAST\r\n" % len(chunk))
        sent, heard = trickle(c, chunk)
        self.assertLess(sent, len(chunk), "the whole chunk got through: %r" % heard)
        self.assertTrue(heard.startswith(b"421 4.4.2 "), heard)
        self.assertTrue(ferrytest.wait_for(
            lambda: "state=bdat reason=deadline" in self.f.log_text(), 10))

    def test_slow_but_steady_client_is_served(self):
        """Complete lines a second apart, and content well above
        data_min_rate, may take longer than both timeouts in total."""
        before = self.f.queue_files()
        with smtplib.SMTP("127.0.0.1", self.f.mx, timeout=30) as s:
            s.ehlo("steady.test")
            for _ in range(5):
                time.sleep(1)
                self.assertEqual(s.noop()[0], 250)
            self.assertEqual(s.mail("a@sender.test")[0], 250)
            self.assertEqual(s.rcpt("alice@example.test")[0], 250)
            self.assertEqual(s.docmd("DATA")[0], 354)
            s.send(MSG)
            for _ in range(10):   # 20 KiB over ~5 s: 4 KiB/s, above 500 B/s
                time.sleep(0.5)
                s.send((b"z" * 510 + b"\r\n") * 4)
            s.send(b".\r\n")
            code, text = s.getreply()
            self.assertEqual(code, 250, text)
        self.assertEqual(len(self.f.queue_files()), len(before) + 1)


class SlowlorisTest(unittest.TestCase):
    """Hundreds of clients trickling a byte a second, half into a command
    line and half into DATA, while an ordinary client sends a message."""
    TRICKLERS = 400
    LINE = b"NOOP " + b"x" * 55 + b"\r\n"   # would take a minute at a byte a second

    def setUp(self):
        self.f = Ferryd(extra="timeout_command 5\ntimeout_data 5\n"
                              "max_connections_per_client 2000\nmax_connections 5000").start()
        self.addCleanup(self.f.stop)

    def open_trickler(self, in_data):
        c = RawClient(self.f.mx, timeout=30)
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        if in_data:
            c.cmd("EHLO slow.test")
            self.assertEqual(c.cmd("MAIL FROM:<a@sender.test>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
        c.sock.setblocking(False)
        return c

    def served_meanwhile(self, result):
        t0 = time.monotonic()
        with smtplib.SMTP("127.0.0.1", self.f.mx, timeout=60) as s:
            s.ehlo("normal.test")
            s.mail("a@sender.test")
            s.rcpt("alice@example.test")
            code, _ = s.data(MSG + b"hello\r\n")
        result.append((code, time.monotonic() - t0))

    def test_tricklers_do_not_starve_others(self):
        import threading
        tricklers = [self.open_trickler(in_data=i % 2 == 1) for i in range(self.TRICKLERS)]
        start = time.monotonic()
        cut = {}            # index -> seconds after trickling began
        heard = {}
        normal = []
        worker = None
        pos = 0
        while len(cut) < len(tricklers) and pos < len(self.LINE):
            for i, c in enumerate(tricklers):
                if i not in cut:
                    try:
                        c.sock.send(self.LINE[pos:pos + 1])
                    except OSError:
                        cut[i] = time.monotonic() - start
            pos += 1
            if pos == 2:   # every trickler is mid-line: now an ordinary client
                worker = threading.Thread(target=self.served_meanwhile, args=(normal,))
                worker.start()
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                live = [c.sock for i, c in enumerate(tricklers) if i not in cut]
                r, _, _ = select.select(live, [], [], max(0, end - time.monotonic()))
                for sock in r:
                    i = next(j for j, c in enumerate(tricklers) if c.sock is sock)
                    try:
                        chunk = sock.recv(4096)
                    except OSError:
                        chunk = b""
                    heard[i] = heard.get(i, b"") + chunk
                    if not chunk:
                        cut[i] = time.monotonic() - start
        worker.join(60)
        times = sorted(cut.values())
        print("\nslowloris: %d tricklers (%d in a command line, %d in DATA), a byte per second; "
              "cut %d, after %.1f s (first) / %.1f s (median) / %.1f s (last); "
              "ordinary client meanwhile: %s in %.2f s" % (
                  len(tricklers), (len(tricklers) + 1) // 2, len(tricklers) // 2, len(cut),
                  times[0] if times else -1, times[len(times) // 2] if times else -1,
                  times[-1] if times else -1, normal[0][0] if normal else None,
                  normal[0][1] if normal else -1))
        self.assertEqual(len(cut), len(tricklers), "tricklers still connected after %d bytes" % pos)
        self.assertLess(pos, len(self.LINE))
        self.assertTrue(all(h.startswith(b"421 4.4.2 ") for h in heard.values()),
                        [h for h in heard.values() if not h.startswith(b"421 4.4.2 ")][:3])
        self.assertEqual(normal and normal[0][0], 250)
        log = self.f.log_text()
        self.assertGreaterEqual(log.count("reason=deadline"), len(tricklers))


class JunkCommandTest(unittest.TestCase):
    """A NOOP just inside timeout_command restarts no deadline: each is a
    whole command. Past junk_command_limit (default 100, as Postfix) they
    count toward max_errors (default 20), so the session ends."""

    def test_noop_forever_is_cut_at_the_defaults(self):
        f = Ferryd().start()
        self.addCleanup(f.stop)
        c = RawClient(f.mx, timeout=30)
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("EHLO junk.test")[0], 250)
        codes = []
        for i in range(200):
            try:
                code, _ = c.cmd(["NOOP", "RSET", "VRFY <a@example.test>"][i % 3])
            except ConnectionError:
                break
            codes.append(code)
            if code == 421:
                break
        self.assertEqual(codes[:100], [250, 250, 252] * 33 + [250])
        self.assertEqual(codes[-1], 421, codes[-5:])
        self.assertEqual(len(codes), 121, "cut after 100 free and 20 counted junk commands")
        self.assertTrue(c.closed())
        self.assertIn("event=disconnect-errors", f.log_text())

    def test_long_session_of_good_messages_runs_on(self):
        # JavaMail sends NOOP before each message on a kept connection,
        # others RSET: a client whose messages are queued is no nuisance
        # (the counts start again at each queued message, as Postfix's)
        f = Ferryd().start()
        self.addCleanup(f.stop)
        with smtplib.SMTP("127.0.0.1", f.mx, timeout=30) as s:
            for i in range(150):
                self.assertEqual(s.noop()[0], 250)
                self.assertEqual(s.rset()[0], 250)
                s.sendmail("a@sender.test", ["alice@example.test"], MSG + b"n %d\r\n" % i)
        self.assertEqual(f.log_text().count("event=queued"), 150)
        self.assertNotIn("event=disconnect-errors", f.log_text())


if __name__ == "__main__":
    ferrytest.main()
