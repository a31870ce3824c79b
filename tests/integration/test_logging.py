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

    def test_helo_cannot_forge_a_field(self):
        # The security review's reproduction: HELO passes the name check
        # ('"' and '=' are printable) and, logged unquoted, replaced the
        # disconnect line's client with the address it names.
        helo = '"x"client=203.0.113.9'
        f = Ferryd(extra="log_format json").start()
        try:
            with smtplib.SMTP("127.0.0.1", f.mx) as s:
                self.assertEqual(s.helo(helo)[0], 250)
        finally:
            f.stop()
        objs = [json.loads(line) for line in f.log_text().splitlines()]
        # (the start-up port probes disconnect too, after no command)
        disc = [o for o in objs if o.get("event") == "disconnect" and o.get("commands") != "0"]
        self.assertEqual(len(disc), 1)
        self.assertEqual(disc[0]["client"], "127.0.0.1")
        self.assertEqual(disc[0]["helo"], helo)
        for o in objs:
            for k, v in o.items():
                self.assertFalse(k.startswith("client_"), o)
                if k != "helo":
                    self.assertNotIn("203.0.113.9", str(v), o)

    def test_helo_is_quoted_in_text_lines(self):
        # The name is the client's text: quoted and escaped like every
        # network value, so the text line itself holds no forged pair.
        f = Ferryd().start()
        try:
            with smtplib.SMTP("127.0.0.1", f.mx) as s:
                self.assertEqual(s.helo('"x"client=203.0.113.9')[0], 250)
        finally:
            f.stop()
        self.assertRegex(f.log_text(), r'event=disconnect sid=\d+ client=127\.0\.0\.1 '
                         r'helo="\\"x\\"client=203\.0\.113\.9" commands=')


class RotationTest(unittest.TestCase):
    def test_reload_reopens_the_log_file(self):
        # logrotate's way (with `create`: ferryd, no longer root, cannot
        # create files here): rename, a new file for the run user, SIGHUP.
        # The file is reopened on the same descriptor number (dup3), so
        # later lines go to the new file and none to the renamed one.
        f = Ferryd().start()
        try:
            os.rename(f.log, f.log + ".1")
            st = os.stat(f.log + ".1")          # ferryd chowned it to its user
            with open(f.log, "w"):
                pass
            os.chown(f.log, st.st_uid, st.st_gid)
            f.hup()
            self.assertTrue(wait_for(lambda: "event=reloaded" in f.log_text()))
            with smtplib.SMTP("127.0.0.1", f.mx) as s:
                self.assertEqual(s.helo("rotated.test")[0], 250)
            self.assertTrue(wait_for(lambda: 'helo="rotated.test"' in f.log_text()))
        finally:
            f.stop()
        old = ferrytest.read_text(f.log + ".1")
        self.assertIn("event=started", old)
        self.assertNotIn("rotated.test", old)
        self.assertIn("event=stopped", f.log_text())


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
