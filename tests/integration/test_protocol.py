"""Protocol conformance of ferryd's inbound engine, spoken over loopback with
Python's smtplib and a byte-exact raw client."""
import base64
import smtplib
import time
import unittest

import ferrytest
from ferrytest import Ferryd, RawClient, tls_context

MSG = b"From: a@sender.test\r\nTo: alice@example.test\r\nSubject: hi\r\n\r\nhello\r\n"


class ProtocolTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.f = Ferryd(extra="max_recipients 100\nmax_message_size 64k\nmax_errors 10\n"
                             "alias info@example.test alice@example.test").start()
        cls.f.user_add("bob@example.test", "s3cret-pass")

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()

    def raw(self, port=None):
        c = RawClient(port or self.f.mx)
        self.assertEqual(c.reply()[0], 220)
        self.addCleanup(c.close)
        return c

    def new_ids(self, before):
        return [p for p in self.f.queue_files() if p not in before]

    # --- basic acceptance -------------------------------------------------
    def test_mx_accepts_hosted_mailbox(self):
        before = self.f.queue_files()
        with smtplib.SMTP("127.0.0.1", self.f.mx) as s:
            code, _ = s.ehlo("client.test")
            self.assertEqual(code, 250)
            self.assertIn("pipelining", s.esmtp_features)
            self.assertIn("chunking", s.esmtp_features)
            self.assertIn("smtputf8", s.esmtp_features)
            self.assertIn("enhancedstatuscodes", s.esmtp_features)
            self.assertIn("starttls", s.esmtp_features)
            self.assertNotIn("auth", s.esmtp_features)   # never on mx
            s.sendmail("a@sender.test", ["alice@example.test"], MSG)
        new = self.new_ids(before)
        self.assertEqual(len(new), 1)
        env = ferrytest.read_spool_file(new[0])
        self.assertEqual(env["S"], "a@sender.test")
        self.assertEqual(env["rcpts"], ["alice@example.test"])
        self.assertEqual(env["c"], "127.0.0.1")
        self.assertEqual(env["h"], "client.test")
        self.assertEqual(env["P"], "ESMTP")
        content = env["content"]
        self.assertTrue(content.startswith(b"Received: from client.test (unknown [127.0.0.1])\r\n"
                                           b"\tby mx.ferry.test (ferry) with ESMTP id " + env["I"].encode()))
        self.assertTrue(content.endswith(MSG), content)
        log = self.f.log_text()
        self.assertIn("event=queued", log)
        self.assertIn("id=" + env["I"], log)

    def test_alias_and_postmaster_accepted(self):
        c = self.raw()
        c.cmd("EHLO x.test")
        self.assertEqual(c.cmd("MAIL FROM:<>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<info@example.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<Postmaster@Example.TEST>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<Postmaster>")[0], 250)

    # --- relay policy -----------------------------------------------------
    def test_relay_denied_and_unknown_user(self):
        c = self.raw()
        c.cmd("EHLO x.test")
        c.cmd("MAIL FROM:<a@sender.test>")
        code, lines = c.cmd("RCPT TO:<victim@elsewhere.test>")
        self.assertEqual(code, 554)
        self.assertIn("5.7.1", lines[0])
        code, lines = c.cmd("RCPT TO:<nobody@example.test>")
        self.assertEqual(code, 550)
        self.assertIn("5.1.1", lines[0])
        # percent hack, bang path, quoted @, source route: never relayed
        for rcpt in ["<victim%elsewhere.test@example.test>", "<elsewhere.test!victim@example.test>",
                     '<"victim@elsewhere.test"@example.test>',
                     "<@example.test:victim@elsewhere.test>", "<victim@[192.0.2.1]>"]:
            code, lines = c.cmd("RCPT TO:" + rcpt)
            self.assertIn(code, (550, 554), rcpt)
            self.assertTrue("5.1.1" in lines[0] or "5.7.1" in lines[0], lines)
        self.assertEqual(c.cmd("DATA")[0], 554)   # no valid recipients
        self.assertIn("Relay access denied", self.f.log_text())

    def test_submission_requires_tls_and_auth(self):
        c = self.raw(self.f.submission)
        code, lines = c.cmd("EHLO x.test")
        self.assertNotIn("250-AUTH PLAIN LOGIN", lines)   # only after TLS
        # RFC 3207 4: AUTH exists here, but only after STARTTLS (defect 3:
        # it was 503 5.5.1 "authentication not enabled").
        code, lines = c.cmd("AUTH PLAIN AGJvYgBwdw==")
        self.assertEqual((code, lines), (530, ["530 5.7.0 Must issue a STARTTLS command first"]))
        # As Postfix with smtpd_tls_security_level=encrypt: only the
        # session's set-up is taken before STARTTLS.
        for cmd in ("MAIL FROM:<a@sender.test>", "RCPT TO:<alice@example.test>", "DATA",
                    "VRFY alice"):
            code, lines = c.cmd(cmd)
            self.assertEqual((code, lines), (530, ["530 5.7.0 Must issue a STARTTLS command first"]),
                             cmd)
        for cmd in ("NOOP", "RSET", "EHLO x.test"):
            self.assertEqual(c.cmd(cmd)[0], 250, cmd)
        self.assertIn('event=command-refused', self.f.log_text())
        c.cmd("STARTTLS")
        c.starttls_wrap()
        c.cmd("EHLO x.test")
        code, lines = c.cmd("MAIL FROM:<a@sender.test>")
        self.assertEqual((code, lines), (530, ["530 5.7.0 Authentication required"]))

    def test_mx_never_offers_auth(self):
        c = self.raw(self.f.mx)
        c.cmd("EHLO x.test")
        code, lines = c.cmd("AUTH PLAIN AGJvYgBwdw==")
        self.assertEqual((code, lines), (503, ["503 5.5.1 Error: authentication not enabled"]))
        c.cmd("STARTTLS")
        c.starttls_wrap()
        c.cmd("EHLO x.test")
        code, lines = c.cmd("AUTH PLAIN AGJvYgBwdw==")
        self.assertEqual((code, lines), (503, ["503 5.5.1 Error: authentication not enabled"]))

    # --- STARTTLS and AUTH ------------------------------------------------
    def test_starttls_auth_relay(self):
        before = self.f.queue_files()
        with smtplib.SMTP("127.0.0.1", self.f.submission) as s:
            s.starttls(context=tls_context())
            s.ehlo("laptop.test")
            self.assertIn("auth", s.esmtp_features)
            self.assertIn("PLAIN", s.esmtp_features["auth"])
            s.login("bob@example.test", "s3cret-pass")
            s.sendmail("bob@example.test", ["someone@remote.test"], MSG)
        new = self.new_ids(before)
        self.assertEqual(len(new), 1)
        env = ferrytest.read_spool_file(new[0])
        self.assertEqual(env["A"], "bob@example.test")
        self.assertEqual(env["P"], "ESMTPSA")
        self.assertIn("TLSv1.", env["L"])
        self.assertIn(b"(using TLSv1.", env["content"])

    def test_implicit_tls_auth_login(self):
        s = smtplib.SMTP_SSL("127.0.0.1", self.f.submissions, context=tls_context())
        s.ehlo("laptop.test")
        s.user, s.password = "bob@example.test", "s3cret-pass"
        code, _ = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
        self.assertEqual(code, 235)
        s.sendmail("bob@example.test", ["x@remote.test"], MSG)
        s.quit()

    def test_auth_failures_slow_then_disconnect(self):
        c = self.raw(self.f.submission)
        c.cmd("EHLO x.test")
        self.assertEqual(c.cmd("STARTTLS")[0], 220)
        c.starttls_wrap()
        c.cmd("EHLO x.test")
        bad = base64.b64encode(b"\0bob@example.test\0wrong").decode()
        t0 = time.time()
        for i in range(3):
            code, lines = c.cmd("AUTH PLAIN " + bad)
            self.assertEqual(code, 535, lines)
            self.assertIn("5.7.8", lines[0])
        self.assertGreaterEqual(time.time() - t0, 3)   # 1 + 2 + 3 s of delay at least... 
        code, lines = c.reply()
        self.assertEqual(code, 421)
        self.assertTrue(c.closed())
        self.assertIn("result=failed", self.f.log_text())

    def test_auth_long_initial_response_is_not_a_long_line(self):
        c = self.raw(self.f.submission)
        c.cmd("EHLO x.test")
        c.cmd("STARTTLS")
        c.starttls_wrap()
        c.cmd("EHLO x.test")
        blob = base64.b64encode(b"\0bob@example.test\0" + b"x" * 9000).decode()
        self.assertLessEqual(len(blob), 12288)
        code, lines = c.cmd("AUTH PLAIN " + blob)
        self.assertEqual(code, 535, lines)   # wrong password, but not 500 line too long

    def test_auth_cancel(self):
        c = self.raw(self.f.submission)
        c.cmd("EHLO x.test")
        c.cmd("STARTTLS")
        c.starttls_wrap()
        c.cmd("EHLO x.test")
        self.assertEqual(c.cmd("AUTH LOGIN")[0], 334)
        code, lines = c.cmd("*")
        self.assertEqual(code, 501)

    def test_starttls_discards_pipelined_plaintext(self):
        c = self.raw()
        c.cmd("EHLO x.test")
        # CVE-2011-0411: the injected command must not be executed after TLS.
        c.send("STARTTLS\r\nMAIL FROM:<evil@x.test>\r\n")
        self.assertEqual(c.reply()[0], 220)
        c.starttls_wrap()
        code, lines = c.cmd("EHLO x.test")
        self.assertEqual(code, 250, lines)
        self.assertNotIn("250-STARTTLS", lines)
        # no transaction was started by the injected MAIL
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 503)

    # --- pipelining and framing -------------------------------------------
    def test_pipelining_in_one_packet(self):
        c = self.raw()
        c.send("EHLO x.test\r\nMAIL FROM:<a@s.test>\r\nRCPT TO:<alice@example.test>\r\n"
               "RCPT TO:<nobody@example.test>\r\nDATA\r\n")
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.reply()[0], 550)
        self.assertEqual(c.reply()[0], 354)
        c.send("Subject: p\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 250)
        self.assertIn("queued as", lines[0])
        self.assertEqual(c.reply()[0], 221)

    def test_split_packets_byte_by_byte(self):
        before = self.f.queue_files()
        c = self.raw()
        script = (b"EHLO x.test\r\nMAIL FROM:<a@s.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        for b in script:
            c.send(bytes([b]))
        for expect in (250, 250, 250, 354):
            self.assertEqual(c.reply()[0], expect)
        body = b"Subject: split\r\n\r\n..dot line\r\nlast\r\n.\r\n"
        for b in body:
            c.send(bytes([b]))
        self.assertEqual(c.reply()[0], 250)
        env = ferrytest.read_spool_file(self.new_ids(before)[0])
        self.assertTrue(env["content"].endswith(b"Subject: split\r\n\r\n.dot line\r\nlast\r\n"))

    def test_smuggling_bare_lf_dot_does_not_end_message(self):
        before = self.f.queue_files()
        c = self.raw()
        c.cmd("EHLO x.test")
        c.cmd("MAIL FROM:<a@s.test>")
        c.cmd("RCPT TO:<alice@example.test>")
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(b"Subject: s\r\n\r\nhello\n.\nMAIL FROM:<evil@s.test>\r\nRCPT TO:<alice@example.test>\r\n"
               b"DATA\r\nSubject: smuggled\r\n\r\n.\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        new = self.new_ids(before)
        self.assertEqual(len(new), 1)
        content = ferrytest.read_spool_file(new[0])["content"]
        self.assertIn(b"MAIL FROM:<evil@s.test>", content)
        self.assertNotIn(b"\n.\n", content)
        self.assertEqual(content.count(b"\n"), content.count(b"\r\n"))   # no bare LF stored

    def test_smuggling_cr_variants_refused(self):
        for payload in (b"hello\r.\r\nMAIL FROM:<e@s.test>\r\n.\r\n",
                        b"hello\r\n.\rMAIL FROM:<e@s.test>\r\n.\r\n"):
            before = self.f.queue_files()
            c = self.raw()
            c.cmd("EHLO x.test")
            c.cmd("MAIL FROM:<a@s.test>")
            c.cmd("RCPT TO:<alice@example.test>")
            c.cmd("DATA")
            c.send(payload)
            code, lines = c.reply()
            self.assertEqual(code, 550, (payload, lines))
            self.assertIn("bare <CR>", lines[0])
            self.assertEqual(self.new_ids(before), [])
            c.close()

    def test_long_command_line_refused(self):
        c = self.raw()
        c.cmd("EHLO x.test")
        code, lines = c.cmd("NOOP " + "x" * 600)
        self.assertEqual(code, 500)
        self.assertIn("5.5.2", lines[0])
        self.assertEqual(c.cmd("NOOP")[0], 250)   # still in sync
        c.send("NOOP " + "y" * 20000 + "\r\nNOOP\r\n")
        self.assertEqual(c.reply()[0], 500)
        self.assertEqual(c.reply()[0], 250)

    def test_every_reply_has_enhanced_code(self):
        c = self.raw()
        for line in ["EHLO x.test", "HELP", "VRFY alice", "NOOP", "FOO", "RSET", "MAIL FROM:<bad",
                     "RCPT TO:<a@b.test>", "DATA"]:
            code, lines = c.cmd(line)
            if line.startswith("EHLO"):
                continue
            self.assertRegex(lines[-1], r"^\d{3} [245]\.\d{1,3}\.\d{1,3} ", line)
        self.assertEqual(c.cmd("VRFY alice")[0], 252)

    def test_commands_out_of_order(self):
        c = self.raw()
        self.assertEqual(c.cmd("MAIL FROM:<a@s.test>")[0], 503)
        c.cmd("EHLO x.test")
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 503)
        self.assertEqual(c.cmd("DATA")[0], 503)
        c.cmd("MAIL FROM:<a@s.test>")
        self.assertEqual(c.cmd("MAIL FROM:<a@s.test>")[0], 503)
        self.assertEqual(c.cmd("DATA")[0], 554)

    def test_too_many_errors_disconnects(self):
        c = self.raw()
        for i in range(9):
            self.assertEqual(c.cmd("BOGUS")[0], 500)
        c.send("BOGUS\r\n")
        self.assertEqual(c.reply()[0], 500)
        self.assertEqual(c.reply()[0], 421)
        self.assertTrue(c.closed())

    # --- limits -----------------------------------------------------------
    def test_size_limits(self):
        c = self.raw()
        c.cmd("EHLO x.test")
        code, lines = c.cmd("MAIL FROM:<a@s.test> SIZE=100000000")
        self.assertEqual(code, 552)
        c.cmd("MAIL FROM:<a@s.test> SIZE=1000")
        c.cmd("RCPT TO:<alice@example.test>")
        c.cmd("DATA")
        c.send(b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 1200 + b".\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 552)
        self.assertIn("5.3.4", lines[0])
        self.assertEqual(c.cmd("NOOP")[0], 250)

    def test_recipient_limit(self):
        c = self.raw()
        c.cmd("EHLO x.test")
        c.cmd("MAIL FROM:<a@s.test>")
        for i in range(100):
            self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        code, lines = c.cmd("RCPT TO:<alice@example.test>")
        self.assertEqual(code, 452)

    def test_bare_lf_normalised(self):
        before = self.f.queue_files()
        c = self.raw()
        c.cmd("EHLO x.test")
        c.cmd("MAIL FROM:<a@s.test>")
        c.cmd("RCPT TO:<alice@example.test>")
        c.cmd("DATA")
        c.send(b"Subject: lf\n\nline one\nline two\r\n.\r\n")
        self.assertEqual(c.reply()[0], 250)
        content = ferrytest.read_spool_file(self.new_ids(before)[0])["content"]
        self.assertTrue(content.endswith(b"Subject: lf\r\n\r\nline one\r\nline two\r\n"), content)

    def test_long_text_line_refused(self):
        c = self.raw()
        c.cmd("EHLO x.test")
        c.cmd("MAIL FROM:<a@s.test>")
        c.cmd("RCPT TO:<alice@example.test>")
        c.cmd("DATA")
        c.send(b"Subject: l\r\n\r\n" + b"x" * 1100 + b"\r\n.\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 550, lines)

    # --- BDAT ---------------------------------------------------------------
    def test_bdat_chunks(self):
        before = self.f.queue_files()
        c = self.raw()
        c.cmd("EHLO x.test")
        c.cmd("MAIL FROM:<a@s.test> BODY=8BITMIME")
        c.cmd("RCPT TO:<alice@example.test>")
        part1 = b"Subject: bdat\r\n\r\n.not stuffed\r"
        part2 = b"\nend\r\n"
        c.send(b"BDAT %d\r\n" % len(part1) + part1)
        self.assertEqual(c.reply()[0], 250)
        c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        env = ferrytest.read_spool_file(self.new_ids(before)[0])
        self.assertTrue(env["content"].endswith(b"Subject: bdat\r\n\r\n.not stuffed\r\nend\r\n"))
        self.assertEqual(env["B"], "8BITMIME")

    def test_bdat_without_mail_consumes_chunk(self):
        c = self.raw()
        c.cmd("EHLO x.test")
        c.send(b"BDAT 12 LAST\r\nNOOP\r\nNOOP\r\n")
        self.assertEqual(c.reply()[0], 503)
        self.assertEqual(c.cmd("NOOP")[0], 250)   # the chunk octets were not read as commands

    def test_data_after_bdat_refused(self):
        c = self.raw()
        c.cmd("EHLO x.test")
        c.cmd("MAIL FROM:<a@s.test>")
        c.cmd("RCPT TO:<alice@example.test>")
        c.send(b"BDAT 3\r\nabc")
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 503)

    # --- DSN and SMTPUTF8 ---------------------------------------------------
    def test_dsn_parameters_kept(self):
        before = self.f.queue_files()
        c = self.raw()
        c.cmd("EHLO x.test")
        self.assertEqual(c.cmd("MAIL FROM:<a@s.test> RET=HDRS ENVID=QQ+2B314")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test> NOTIFY=SUCCESS,FAILURE "
                               "ORCPT=rfc822;alice+2Bx@example.test")[0], 250)
        c.cmd("DATA")
        c.send(b"Subject: dsn\r\n\r\nx\r\n.\r\n")
        self.assertEqual(c.reply()[0], 250)
        env = ferrytest.read_spool_file(self.new_ids(before)[0])
        self.assertEqual(env["T"], "HDRS")
        self.assertEqual(env["E"], "QQ+314")
        self.assertEqual(env["notify"]["alice@example.test"], 0x2 | 0x4)
        self.assertEqual(env["orcpt"]["alice@example.test"], "rfc822;alice+2Bx@example.test")
        code, lines = c.cmd("MAIL FROM:<a@s.test> NOTIFY=NEVER")
        self.assertEqual(code, 555)

    def test_smtputf8(self):
        before = self.f.queue_files()
        with smtplib.SMTP("127.0.0.1", self.f.submission) as s:
            s.starttls(context=tls_context())
            s.ehlo("laptop.test")
            s.login("bob@example.test", "s3cret-pass")
            s.sendmail("bob@example.test", ["użytkownik@przykład.test"],
                       "Subject: zażółć\r\n\r\ngęślą jaźń\r\n".encode(),
                       mail_options=["SMTPUTF8", "BODY=8BITMIME"])
        env = ferrytest.read_spool_file(self.new_ids(before)[0])
        self.assertEqual(env["rcpts"], ["użytkownik@przykład.test"])
        self.assertEqual(env["U"], "1")
        self.assertEqual(env["P"], "UTF8SMTPSA")
        c = self.raw()
        c.cmd("EHLO x.test")
        code, lines = c.cmd("MAIL FROM:<użytkownik@przykład.test>")
        self.assertEqual(code, 553)
        self.assertIn("5.6.7", lines[0])


class TimeoutTest(unittest.TestCase):
    def test_idle_client_gets_421(self):
        f = Ferryd(extra="timeout_command 2").start()
        try:
            c = RawClient(f.mx)
            self.assertEqual(c.reply()[0], 220)
            t0 = time.time()
            code, lines = c.reply()
            self.assertEqual(code, 421)
            self.assertIn("4.4.2", lines[0])
            self.assertGreaterEqual(time.time() - t0, 1.5)
            self.assertTrue(c.closed())
        finally:
            f.stop()


class ConnectionLimitTest(unittest.TestCase):
    def test_per_client_limit(self):
        f = Ferryd(extra="max_connections_per_client 3").start()
        try:
            conns = [RawClient(f.mx) for _ in range(3)]
            for c in conns:
                self.assertEqual(c.reply()[0], 220)
            extra = RawClient(f.mx)
            code, lines = extra.reply()
            self.assertEqual(code, 421)
            conns[0].cmd("QUIT")
            conns[0].close()
            time.sleep(0.3)
            again = RawClient(f.mx)
            self.assertEqual(again.reply()[0], 220)
        finally:
            f.stop()


if __name__ == "__main__":
    ferrytest.main()
