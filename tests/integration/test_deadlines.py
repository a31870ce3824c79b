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


if __name__ == "__main__":
    ferrytest.main()
