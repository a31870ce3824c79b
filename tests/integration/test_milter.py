"""Content filters through the milter protocol (issue 10, item 7).

A scripted milter (miltertest.py, a real socket server) gives each verdict
at the end of DATA: continue, accept, reject, reply code, tempfail, discard,
quarantine, header add/insert/change/delete; it dies in the middle of the
body, hangs past the timeout, sends garbage, or is not there at all: the
filter's default_action decides (451 4.7.1 with nothing queued, or a
durable accept). Then the real rspamd (Debian's package, private, on
loopback) in milter mode scans tenants' mail: GTUBE is refused with 550
5.7.1, held, or marked with X-Ferry-Spam per the tenant's spam_action, a
clean message passes with rspamd's headers, and rspamd down gives the
default action, logged."""
import os
import re
import smtplib
import tempfile
import unittest

from ferrytest import Ferryd, free_port, read_spool_file, wait_for
from miltertest import Milter, NOHELO, NR_HDR
from receiver import Receiver
from rspamdpeer import Rspamd

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def message(subject, body="Hello.\r\n", frm="a@src.test", extra=""):
    return ("From: %s\r\nTo: alice@example.test\r\nSubject: %s\r\n%s\r\n%s"
            % (frm, subject, extra, body)).encode()


def send(port, data, sender="a@src.test", rcpt="alice@example.test"):
    """The final reply to DATA: (code, text)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
        s.ehlo("client.test")
        s.mail(sender)
        s.rcpt(rcpt)
        code, text = s.data(data)
        return code, text.decode()


class ScriptedMilterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pm = Milter()                 # default_action tempfail
        cls.pa = Milter()                 # default_action accept
        cls.udir = tempfile.mkdtemp(prefix="ferrytest-milter.")
        os.chmod(cls.udir, 0o755)
        cls.pu = Milter(path=os.path.join(cls.udir, "milter.sock"))
        down = free_port()                # nothing listens there
        cls.mx2, cls.mx3, cls.mx4 = free_port(), free_port(), free_port()
        cls.f = Ferryd(extra="milter pm inet:127.0.0.1:%d timeout=2s\n"
                             "milter pa inet:127.0.0.1:%d timeout=2 default_action=accept\n"
                             "milter down inet:127.0.0.1:%d connect_timeout=2s\n"
                             "milter pu unix:%s\n"
                             "listen mx 127.0.0.1:%d milters=pa\n"
                             "listen mx 127.0.0.1:%d milters=down\n"
                             "listen mx 127.0.0.1:%d milters=pu,pa\n"
                       % (cls.pm.port, cls.pa.port, down, cls.pu.sock.getsockname(), cls.mx2, cls.mx3,
                          cls.mx4))
        with open(cls.f.conf) as fh:
            text = fh.read()
        with open(cls.f.conf, "w") as fh:
            fh.write(text.replace("listen mx 127.0.0.1:%d\n" % cls.f.mx,
                                  "listen mx 127.0.0.1:%d milters=pm\n" % cls.f.mx))
        cls.f.ports["mx2"], cls.f.ports["mx3"], cls.f.ports["mx4"] = cls.mx2, cls.mx3, cls.mx4
        cls.f.start()

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()
        cls.pm.stop()
        cls.pa.stop()
        cls.pu.stop()

    def held(self):
        return sorted(os.listdir(os.path.join(self.f.spool, "hold")))

    def verdict(self, mode, data=None, port=None, milter=None):
        """Send one message with the milter in mode: (code, text, queue files added)."""
        milter = milter or self.pm
        milter.mode = mode
        before = set(self.f.queue_files())
        code, text = send(port or self.f.mx, data or message(mode))
        return code, text, sorted(set(self.f.queue_files()) - before)

    def test_continue_sees_envelope_headers_and_whole_body(self):
        body = "".join("line %06d of a long body\r\n" % i for i in range(6000))   # > 2 BODY chunks
        n = len(self.pm.sessions)
        code, text, new = self.verdict("continue", message("long one", body))
        self.assertEqual(code, 250, text)
        self.assertEqual(len(new), 1)
        s = self.pm.sessions[n]
        self.assertEqual(s["sender"], "<a@src.test>")
        self.assertEqual(s["rcpts"], ["<alice@example.test>"])
        self.assertEqual(s["helo"], "client.test")
        self.assertIn(("Subject", "long one"), s["headers"])
        self.assertEqual(s["headers"][0][0], "Received")
        self.assertEqual(s["body"], body.encode())
        self.assertEqual(s["macros"]["i"], os.path.basename(new[0]))
        self.assertTrue(s["commands"].startswith("ODC"), s["commands"])
        self.assertIn("E", s["commands"])
        self.assertTrue(read_spool_file(new[0])["content"].endswith(body.encode()))

    def test_steps_declined_and_unanswered(self):
        """A filter that declines HELO and answers no header gets neither a
        HELO nor a wait for header replies."""
        self.pm.protocol = NOHELO | NR_HDR
        try:
            n = len(self.pm.sessions)
            code, text, new = self.verdict("continue")
            self.assertEqual(code, 250, text)
            self.assertNotIn("H", self.pm.sessions[n]["commands"])
        finally:
            self.pm.protocol = 0

    def test_reject(self):
        code, text, new = self.verdict("reject")
        self.assertEqual((code, new), (550, []))
        self.assertTrue(text.startswith("5.7.1"), text)

    def test_replycode_text_is_used(self):
        self.pm.replycode = "554 5.7.1 Go away now"
        code, text, new = self.verdict("replycode")
        self.assertEqual((code, text, new), (550, "5.7.1 Go away now", []))
        self.pm.replycode = "452 4.3.1 Busy here"
        code, text, new = self.verdict("replycode")
        self.assertEqual((code, text, new), (451, "4.7.1 Busy here", []))

    def test_multiline_8bit_replycode_is_still_a_reject(self):
        """A multi-line, 8-bit reply code is the filter's verdict made
        printable, not a filter failure: with default_action=accept the
        message a filter rejected must not be accepted."""
        self.pa.replycode = "550-5.7.1 first\r\n550 5.7.1 second caf\u00e9 100%%"
        try:
            code, text, new = self.verdict("replycode", port=self.mx2, milter=self.pa)
            self.assertEqual((code, text, new), (550, "5.7.1 first second caf?? 100%", []))
        finally:
            self.pa.mode, self.pa.replycode = "continue", "554 5.7.1 Go away"

    def test_tempfail(self):
        code, text, new = self.verdict("tempfail")
        self.assertEqual((code, new), (451, []))
        self.assertTrue(text.startswith("4.7.1"), text)

    def test_discard(self):
        code, text, new = self.verdict("discard")
        self.assertEqual((code, new), (250, []))
        self.assertIn("event=milter-discard", self.f.log_text())

    def test_quarantine_holds(self):
        before = self.held()
        code, text, new = self.verdict("quarantine")
        self.assertEqual((code, new), (250, []))
        held = sorted(set(self.held()) - set(before))
        self.assertEqual(len(held), 1)
        out = self.f.ctl("queue", "list", "--held").stdout
        self.assertIn(held[0], out)
        self.assertIn("looks odd", out)
        self.assertIn("!", out)

    def test_header_edits_are_committed(self):
        code, text, new = self.verdict("addheader")
        self.assertEqual(code, 250, text)
        content = read_spool_file(new[0])["content"]
        head = content.split(b"\r\n\r\n")[0]
        self.assertTrue(head.endswith(b"\r\nX-Test-Added: yes it was"), head)
        # the Received: header names the id the message was committed under
        self.assertIn(b" id " + os.path.basename(new[0]).encode(), head)
        self.assertIn("event=milter-rewrite", self.f.log_text())

        code, text, new = self.verdict("insheader")
        # the trace header ferry adds stays first; index 0 is the client's first
        content = read_spool_file(new[0])["content"]
        self.assertTrue(content.startswith(b"Received: "), content[:200])
        self.assertLess(content.index(b"\r\nX-Test-First: top\r\n"), content.index(b"\r\nFrom: "))

        code, text, new = self.verdict("chgheader")
        content = read_spool_file(new[0])["content"]
        self.assertIn(b"\r\nSubject: changed by milter\r\n", content)
        self.assertNotIn(b"Subject: chgheader", content)

        code, text, new = self.verdict("delheader", message("del", extra="X-Remove-Me: please\r\n"))
        content = read_spool_file(new[0])["content"]
        self.assertNotIn(b"X-Remove-Me", content)
        self.assertIn(b"Subject: del\r\n", content)

    def test_dies_mid_message_tempfail(self):
        code, text, new = self.verdict("die")
        self.assertEqual((code, new), (451, []))
        self.assertTrue(text.startswith("4.7.1"), text)
        self.assertRegex(self.f.log_text(), r"event=milter-failed .*milter=pm action=tempfail")
        self.assertEqual(os.listdir(os.path.join(self.f.spool, "incoming")), [])

    def test_hangs_past_timeout_tempfail(self):
        code, text, new = self.verdict("hang")
        self.assertEqual((code, new), (451, []))
        self.assertRegex(self.f.log_text(), r"event=milter-failed .*milter=pm action=tempfail .*reason=\"?timeout")

    def test_garbage_reply_tempfail(self):
        code, text, new = self.verdict("garbage")
        self.assertEqual((code, new), (451, []))

    def test_dies_mid_message_default_accept(self):
        code, text, new = self.verdict("die", port=self.mx2, milter=self.pa)
        self.assertEqual(code, 250, text)
        self.assertEqual(len(new), 1)
        self.assertRegex(self.f.log_text(), r"event=milter-failed .*milter=pa action=accept")

    def test_huge_header_is_cut_not_a_filter_failure(self):
        """A header too big for one HEADER packet (folded into normal
        lines) is sent cut: the filter still scans and rejects, even with
        default_action=accept (the client cannot make ferry skip it)."""
        big = "X-Big: " + "\r\n ".join("%s" % ("y" * 900) for _ in range(80)) + "\r\n"   # ~72 KiB
        n = len(self.pa.sessions)
        code, text, new = self.verdict("reject", message("huge header", extra=big), port=self.mx2,
                                       milter=self.pa)
        self.assertEqual((code, new), (550, []), text)
        self.pa.mode = "continue"
        got = dict(self.pa.sessions[n]["headers"])
        self.assertIn("X-Big", got)
        self.assertLessEqual(len(got["X-Big"]), 60 * 1024)
        self.assertTrue(got["X-Big"].endswith("y"), got["X-Big"][-20:])
        self.assertIn(("Subject", "huge header"), self.pa.sessions[n]["headers"])
        self.assertNotRegex(self.f.log_text(), r"event=milter-failed .*milter=pa .*phase=header")

    def test_milter_down_default_tempfail(self):
        before = set(self.f.queue_files())
        code, text = send(self.mx3, message("down"))
        self.assertEqual(code, 451, text)
        self.assertEqual(set(self.f.queue_files()), before)
        self.assertRegex(self.f.log_text(), r"event=milter-failed .*milter=down action=tempfail")

    def test_unix_socket_then_a_second_filter(self):
        """Two filters in turn (the first on a Unix socket): both see the
        message and both edits are applied; a refusal by the first ends
        the scan before the second."""
        self.pa.mode = "addheader"
        nu, na = len(self.pu.sessions), len(self.pa.sessions)
        code, text, new = self.verdict("insheader", port=self.mx4, milter=self.pu)
        self.assertEqual(code, 250, text)
        content = read_spool_file(new[0])["content"]
        self.assertIn(b"\r\nX-Test-First: top\r\n", content)
        self.assertIn(b"\r\nX-Test-Added: yes it was\r\n", content)
        self.assertEqual((len(self.pu.sessions), len(self.pa.sessions)), (nu + 1, na + 1))
        code, text, new = self.verdict("reject", port=self.mx4, milter=self.pu)
        self.assertEqual((code, new), (550, []))
        self.assertEqual(len(self.pa.sessions), na + 1)
        self.pa.mode = "continue"

    def test_session_goes_on_after_a_refusal(self):
        self.pm.mode = "reject"
        with smtplib.SMTP("127.0.0.1", self.f.mx, timeout=60) as s:
            s.ehlo("client.test")
            for want in (550, 250):
                s.mail("a@src.test")
                s.rcpt("alice@example.test")
                code, _ = s.data(message("again"))
                self.assertEqual(code, want)
                self.pm.mode = "continue"

    def test_zz_reload_changes_the_filters(self):
        """SIGHUP: a listener without milters= any more scans nothing (and
        runs last: it changes the configuration)."""
        with open(self.f.conf) as fh:
            text = fh.read()
        with open(self.f.conf, "w") as fh:
            fh.write(text.replace(" milters=pm\n", "\n"))
        self.f.hup()
        self.assertTrue(wait_for(lambda: "event=reloaded" in self.f.log_text()))
        n = len(self.pm.sessions)
        code, text, new = self.verdict("reject")
        self.assertEqual((code, len(new)), (250, 1))
        self.assertEqual(len(self.pm.sessions), n)

class TenantMilterTest(unittest.TestCase):
    """Scripted filters as tenant_milters for a tenant whose spam_action is
    header: th (spam=yes, its rejects are spam verdicts) then tv (as a
    virus scanner, spam=no: its rejects are final)."""

    @classmethod
    def setUpClass(cls):
        cls.th, cls.tv = Milter(), Milter()
        cls.f = Ferryd(extra="milter th inet:127.0.0.1:%d timeout=30s spam=yes\n"
                             "milter tv inet:127.0.0.1:%d timeout=30s default_action=accept\n"
                             "tenant_milters th,tv\ntimeout_command 2s\n" % (cls.th.port, cls.tv.port))
        cls.f.start()
        cls.key = cls.f.tenant_add("hdrco")
        cls.f.ctl("tenant", "set", "hdrco", "--spam-action", "header")

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()
        cls.th.stop()
        cls.tv.stop()

    def setUp(self):
        self.th.mode = self.tv.mode = "continue"

    def send(self, subject):
        """(code, text, queue files added)."""
        before = set(self.f.queue_files())
        data = ("From: news@hdrco.test\r\nTo: someone@remote.test\r\nSubject: %s\r\n\r\nhello\r\n"
                % subject).encode()
        with smtplib.SMTP("127.0.0.1", self.f.submission, timeout=60) as s:
            s.starttls()
            s.login("apikey", self.key)
            s.mail("news@hdrco.test")
            s.rcpt("someone@remote.test")
            code, text = s.data(data)
        return code, text.decode(), sorted(set(self.f.queue_files()) - before)

    def test_rewrite_keeps_one_ref_for_the_new_id(self):
        """A header-adding filter: the rewritten message has one Received:
        and one X-Ferry-Ref:, both for the queue id of the 250."""
        self.th.mode = "addheader"
        code, text, new = self.send("rewritten")
        self.assertEqual(code, 250, text)
        qid = re.search(r"queued as ([0-9A-F]+)", text).group(1)
        self.assertEqual([os.path.basename(p) for p in new], [qid])
        head = read_spool_file(new[0])["content"].split(b"\r\n\r\n")[0]
        refs = re.findall(rb"(?m)^X-Ferry-Ref: (\S+)", head)
        self.assertEqual(len(refs), 1, head)
        self.assertEqual(len(re.findall(rb"(?m)^Received: ", head)), 1, head)
        self.assertIn(b" id " + qid.encode(), head)
        self.assertIn(b"\r\nX-Test-Added: yes it was", head)
        # the token is "<tenant>-<queue id>-<recipient>-<mac>" (verp.h)
        self.assertEqual(refs[0].decode().split("-")[1].upper(), qid)

    def test_reject_by_spam_filter_follows_spam_action(self):
        """th is spam=yes: its reject is a spam verdict, and the tenant's
        spam_action (header) keeps the message, marked."""
        self.th.mode = "reject"
        code, text, new = self.send("spammy")
        self.assertEqual((code, len(new)), (250, 1), text)
        self.assertIn(b"\r\nX-Ferry-Spam: yes; score=", read_spool_file(new[0])["content"])
        self.assertRegex(self.f.log_text(), r"event=milter-spam .*milter=th .*action=header")

    def test_reject_by_other_filter_is_final(self):
        """tv (spam=no, as clamav-milter) rejects: a final 550 whatever the
        tenant's spam_action, not a spam verdict."""
        self.tv.mode = "reject"
        code, text, new = self.send("virus")
        self.assertEqual((code, new), (550, []), text)
        self.assertTrue(text.startswith("5.7.1"), text)
        self.assertNotRegex(self.f.log_text(), r"event=milter-spam .*milter=tv")

    def test_slow_filter_outlasts_timeout_command(self):
        """A scan longer than timeout_command (2s here; the filter takes
        4s, within its own 30s): the client waiting for the reply gets the
        250, not a 421, and the message is queued once."""
        self.th.mode, self.th.delay = "slow", 4
        try:
            code, text, new = self.send("slow scan")
        finally:
            self.th.delay = 0
        self.assertEqual(code, 250, text)
        self.assertEqual(len(new), 1)
        self.assertNotRegex(self.f.log_text(), r"event=timeout .*state=wait")


class RspamdTest(unittest.TestCase):
    """rspamd as tenant_milters: every tenant's message is scanned."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ferrytest-rspamd.")
        cls.rport = free_port()
        cls.rspamd = Rspamd(os.path.join(cls.tmp, "rspamd"), cls.rport).start()
        cls.rx = Receiver("127.0.0.1")
        cls.f = Ferryd(deliver=True, domains=("ferry.test",), mailboxes=("postmaster@ferry.test",),
                       extra="route * smtp:127.0.0.1:%d\nmilter rspamd inet:127.0.0.1:%d timeout=30s "
                             "connect_timeout=2s spam=yes\ntenant_milters rspamd\n" % (cls.rx.port, cls.rport))
        cls.f.start()
        cls.keys = {}
        for t, action in (("rejco", None), ("holdco", "hold"), ("hdrco", "header")):
            cls.keys[t] = cls.f.tenant_add(t)
            if action:
                cls.f.ctl("tenant", "set", t, "--spam-action", action)

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()
        cls.rspamd.stop()
        cls.rx.stop()

    def send(self, tenant, subject, body):
        data = ("From: news@%s.test\r\nTo: someone@remote.test\r\nSubject: %s\r\n"
                "Message-ID: <%s@%s.test>\r\nDate: Thu, 03 Dec 2026 15:00:00 +0000\r\n\r\n%s\r\n"
                % (tenant, subject, subject.replace(" ", "-"), tenant, body)).encode()
        with smtplib.SMTP("127.0.0.1", self.f.submission, timeout=60) as s:
            s.starttls()
            s.login("apikey", self.keys[tenant])
            s.mail("news@%s.test" % tenant)
            s.rcpt("someone@remote.test")
            code, text = s.data(data)
            return code, text.decode()

    def delivered(self, subject):
        return [m for m in list(self.rx.messages) if b"Subject: " + subject.encode() + b"\r\n" in m["data"]]

    def test_1_spam_action_shown(self):
        self.assertRegex(self.f.ctl("tenant", "show", "holdco").stdout, r"spam action:\s+hold")
        self.assertRegex(self.f.ctl("tenant", "show", "rejco").stdout, r"spam action:\s+reject")

    def test_2_gtube_rejected(self):
        code, text = self.send("rejco", "gtube reject", GTUBE)
        self.assertEqual(code, 550, text)
        self.assertTrue(text.startswith("5.7.1"), text)
        self.assertRegex(self.f.log_text(), r"event=milter-verdict .*milter=rspamd verdict=reject")
        # the verdict feeds the tenant's reputation windows (written within a second)
        def spam_count():
            return self.f.sql("SELECT COALESCE(SUM(count), 0) FROM reputation r JOIN tenants t"
                              " ON t.id = r.tenant_id WHERE t.name = 'rejco' AND metric = 'scan-spam'"
                              )[0][0]
        self.assertTrue(wait_for(lambda: spam_count() == 1), spam_count())

    def test_3_gtube_held(self):
        code, text = self.send("holdco", "gtube hold", GTUBE)
        self.assertEqual(code, 250, text)
        qid = re.search(r"queued as ([0-9A-F]+)", text).group(1)
        out = self.f.ctl("queue", "list", "--held").stdout
        self.assertIn(qid, out)
        self.assertIn("spam", out)
        self.assertEqual(self.delivered("gtube hold"), [])

    def test_4_gtube_header(self):
        code, text = self.send("hdrco", "gtube header", GTUBE)
        self.assertEqual(code, 250, text)
        self.assertTrue(wait_for(lambda: self.delivered("gtube header")), self.f.log_text()[-3000:])
        self.assertRegex(self.delivered("gtube header")[0]["data"], rb"\r\nX-Ferry-Spam: yes; score=")

    def test_5_clean_passes_with_rspamd_headers(self):
        code, text = self.send("rejco", "clean one", "Just a normal note about lunch.")
        self.assertEqual(code, 250, text)
        self.assertTrue(wait_for(lambda: self.delivered("clean one")), self.f.log_text()[-3000:])
        data = self.delivered("clean one")[0]["data"]
        self.assertRegex(data, rb"\r\nX-Spamd-Result: ")
        self.assertNotIn(b"X-Ferry-Spam", data)
        self.assertRegex(self.f.log_text(), r"event=milter-verdict .*milter=rspamd verdict=(continue|accept) "
                                            r"score=-?[0-9.]+")

    def test_6_rspamd_down_default_action(self):
        self.rspamd.stop()
        try:
            code, text = self.send("rejco", "while down", "hello")
            self.assertEqual(code, 451, text)
            self.assertRegex(self.f.log_text(), r"event=milter-failed .*milter=rspamd action=tempfail")
            self.assertEqual(self.delivered("while down"), [])
        finally:
            self.rspamd.start()


if __name__ == "__main__":
    unittest.main(verbosity=2)
