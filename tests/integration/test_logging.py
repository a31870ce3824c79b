"""Logs for log shippers: with `log_format json` every line ferryd writes is
one JSON object holding the same key=value pairs (values from the network
read back exactly); with `log_syslog yes` each line also goes to syslog(3),
facility mail, with its level's priority (RFC 5424 6.2.1: PRI = 2*8 +
severity), read here from a /dev/log the test binds itself (these machines
have no syslog daemon; the test is skipped where /dev/log exists)."""
import json
import os
import re
import smtplib
import socket
import threading
import unittest

import ferrytest
from ferrytest import Ferryd, wait_for

MSG = b"From: a@sender.test\r\nTo: alice@example.test\r\nSubject: hi\r\n\r\nhello\r\n"


class JsonLogTest(unittest.TestCase):
    def test_every_line_is_a_json_object(self):
        f = Ferryd(extra="log_format json").start()
        try:
            with smtplib.SMTP("127.0.0.1", f.mx) as s:
                s.ehlo('odd"helo\\x')
                s.sendmail("a@sender.test", ["alice@example.test"], MSG)
                s.mail("b@sender.test")
                self.assertEqual(s.rcpt("nobody@example.test")[0], 550)
        finally:
            f.stop()
        lines = f.log_text().splitlines()
        self.assertGreater(len(lines), 5)
        objs = [json.loads(line) for line in lines]      # each line on its own
        for o in objs:
            self.assertIsInstance(o, dict)
            self.assertIn("event", o)
            self.assertIn(o["level"], ("debug", "info", "warn", "error"))
        events = {o["event"]: o for o in objs}
        for e in ("started", "connect", "queued", "rcpt-refused", "disconnect", "stopped"):
            self.assertIn(e, events)
        self.assertEqual(events["queued"]["from"], "a@sender.test")
        self.assertEqual(events["queued"]["nrcpt"], "1")
        self.assertEqual(events["disconnect"]["helo"], 'odd"helo\\x')
        self.assertTrue(events["rcpt-refused"]["reply"].startswith("550 5.1.1"))


class SyslogTest(unittest.TestCase):
    def test_lines_go_to_syslog_with_their_priority(self):
        if os.path.exists("/dev/log"):
            self.skipTest("/dev/log exists: a syslog daemon owns it")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind("/dev/log")
        self.addCleanup(os.unlink, "/dev/log")
        self.addCleanup(sock.close)
        self.addCleanup(sock.shutdown, socket.SHUT_RDWR)
        os.chmod("/dev/log", 0o666)
        got = []

        # read all the time: a syslog socket that is not read blocks the
        # sender once its queue (net.unix.max_dgram_qlen) is full
        def reader():
            while True:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:       # shut down
                    return
                got.append(data.decode("utf-8", "replace"))
        threading.Thread(target=reader, daemon=True).start()
        f = Ferryd(extra="log_syslog yes").start()

        def received(pattern):
            return any(re.search(pattern, g) for g in list(got))
        try:
            with smtplib.SMTP("127.0.0.1", f.mx) as s:
                s.sendmail("a@sender.test", ["alice@example.test"], MSG)
            mine = r"ferryd\[%d\]: " % f.proc.pid
            # mail.info = <22>
            self.assertTrue(wait_for(lambda: received(r"^<22>.*" + mine + r"level=info event=queued "),
                                     timeout=20), got)
            with open(f.conf, "a") as c:
                c.write("frobnicate yes\n")
            f.hup()
            # mail.err = <19>
            self.assertTrue(wait_for(lambda: received(r"^<19>.*" + mine + r"level=error event=reload-failed"),
                                     timeout=20), got)
        finally:
            f.stop()
        # the log file keeps its copy
        self.assertIn("event=queued", f.log_text())


if __name__ == "__main__":
    ferrytest.main()
