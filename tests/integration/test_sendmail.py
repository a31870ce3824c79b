"""ferry-sendmail end to end: the injector against a live ferryd (mail
lands in Maildirs), and against scripted fake servers on a Unix socket for
the failure paths (ferryd absent, refusals, malformed replies). Checks exit
codes (sysexits), what reaches the mailbox and what does not (Bcc:, text
after a "." line), and the fields the injector adds."""
import os
import pwd
import shutil
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import ferrytest
from ferrytest import Ferryd, maildir_messages, wait_for

SENDMAIL = os.path.join(ferrytest.BIN, "ferry-sendmail")
EX_USAGE, EX_DATAERR, EX_NOUSER, EX_UNAVAILABLE, EX_SOFTWARE, EX_TEMPFAIL = 64, 65, 67, 69, 70, 75
BOXES = ("alice@example.test", "bob@example.test", "carol@example.test")


def read_one(f, addr):
    assert wait_for(lambda: maildir_messages(f, addr)), "nothing delivered to %s" % addr
    msgs = maildir_messages(f, addr)
    assert len(msgs) == 1, msgs
    with open(msgs[0], "rb") as fh:
        return fh.read()


def header_section(data):
    return data.split(b"\n\n", 1)[0]


def sendmail(conf, args, msg, env=None):
    return subprocess.run([SENDMAIL, "-C", conf] + args, input=msg, capture_output=True,
                          timeout=60, env=env)


class SendmailDeliveryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.f = Ferryd(deliver=True, mailboxes=BOXES).start()

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()

    def setUp(self):
        for addr in BOXES:
            for p in maildir_messages(self.f, addr):
                os.unlink(p)

    def run_ok(self, args, msg, env=None):
        r = sendmail(self.f.conf, args, msg, env)
        self.assertEqual(r.returncode, 0, r.stderr)
        if "-v" not in args:
            self.assertEqual(r.stderr, b"")     # sendmail is silent when all is well
        return r

    def test_command_line_recipients(self):
        self.run_ok(["-f", "cron@example.test", "alice@example.test", "Bob <bob@example.test>, carol"],
                    b"Subject: cmdline\n\nhello\n")
        for addr in BOXES:
            data = read_one(self.f, addr)
            self.assertTrue(data.startswith(b"Return-Path: <cron@example.test>\n"), data)
            hdr = header_section(data)
            self.assertIn(b"\nSubject: cmdline", hdr)
            self.assertIn(b"\nFrom: cron@example.test\n", hdr)      # added: the message had none
            self.assertRegex(hdr, rb"\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\n")
            self.assertRegex(hdr, rb"\nMessage-ID: <\d{14}\.[0-9a-f]{16}@mx\.ferry\.test>")
            self.assertTrue(data.endswith(b"\n\nhello\n"), data)

    def test_t_folded_grouped_headers(self):
        msg = (b"From: Reports <reports@example.test>\n"
               b"To: \"Doe, Alice\" <alice@example.test>,\n"
               b"\tTeam: Bob (the builder) <bob@example.test>,\n"
               b"  carol@example.test;\n"
               b"Cc: undisclosed-recipients:;\n"
               b"Bcc: alice@example.test\n"
               b"Subject: grouped\n"
               b"\n"
               b"To: not-a-recipient@example.test\n")
        self.run_ok(["-t", "-f", "reports@example.test"], msg)
        for addr in BOXES:
            data = read_one(self.f, addr)
            hdr = header_section(data)
            self.assertNotIn(b"Bcc", hdr)
            self.assertIn(b"To: \"Doe, Alice\" <alice@example.test>,\n\tTeam: Bob", hdr)
            self.assertIn(b"From: Reports <reports@example.test>", hdr)   # kept as is
            self.assertIn(b"\n\nTo: not-a-recipient@example.test\n", data)
        # alice was in To: and Bcc: and gets one copy
        time.sleep(0.3)
        self.assertEqual(len(maildir_messages(self.f, "alice@example.test")), 1)

    def test_t_plus_command_line_and_unqualified(self):
        self.run_ok(["-t", "-i", "-f", "cron@example.test", "carol"],
                    b"To: alice\nCc: Bob <bob>\nSubject: both\n\nx\n")
        for addr in BOXES:
            self.assertIn(b"Subject: both", read_one(self.f, addr))

    def test_dot_line_ends_input_without_i(self):
        msg = b"Subject: dot\n\nfirst\n..two dots\n.\nafter the dot\n"
        self.run_ok(["-f", "cron@example.test", "alice@example.test"], msg)
        data = read_one(self.f, "alice@example.test")
        self.assertTrue(data.endswith(b"\n\nfirst\n..two dots\n"), data)
        self.assertNotIn(b"after the dot", data)

    def test_dot_line_kept_with_i(self):
        msg = b"Subject: dot\r\n\r\nfirst\r\n.\r\n.. two\r\nlast\r\n"
        for opt in ("-i", "-oi"):
            self.run_ok([opt, "-f", "cron@example.test", "bob@example.test"], msg)
            data = read_one(self.f, "bob@example.test")
            self.assertTrue(data.endswith(b"\n\nfirst\n.\n.. two\nlast\n"), data)
            os.unlink(maildir_messages(self.f, "bob@example.test")[0])

    def test_F_full_name(self):
        self.run_ok(["-F", "Cron Daemon", "-f", "cron@example.test", "alice@example.test"],
                    b"Subject: f\n\nx\n")
        self.assertIn(b"\nFrom: Cron Daemon <cron@example.test>\n", read_one(self.f, "alice@example.test"))
        # a message with its own From: keeps it
        self.run_ok(["-F", "Ignored", "-f", "cron@example.test", "bob@example.test"],
                    b"From: Real <real@example.test>\nSubject: f\n\nx\n")
        hdr = header_section(read_one(self.f, "bob@example.test"))
        self.assertIn(b"From: Real <real@example.test>", hdr)
        self.assertNotIn(b"Ignored", hdr)
        # -F cannot inject a header line; a non-ASCII name is encoded
        self.run_ok(["-F", "J\u00f6rg\nBcc: evil@example.test", "-f", "cron@example.test",
                     "carol@example.test"], b"Subject: f\n\nx\n")
        hdr = header_section(read_one(self.f, "carol@example.test"))
        self.assertIn(b"\nFrom: =?UTF-8?B?", hdr)
        self.assertNotIn(b"\nBcc:", hdr)

    def test_default_sender_and_config_from_environment(self):
        env = dict(os.environ, FERRY_CONFIG=self.f.conf)
        r = subprocess.run([SENDMAIL, "alice@example.test"], input=b"Subject: env\n\nx\n",
                           capture_output=True, timeout=60, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        login = pwd.getpwuid(os.getuid()).pw_name
        data = read_one(self.f, "alice@example.test")
        self.assertTrue(data.startswith(b"Return-Path: <%s@example.test>" % login.encode()), data)

    def test_null_sender(self):
        self.run_ok(["-f", "<>", "alice@example.test"], b"Subject: null\n\nx\n")
        data = read_one(self.f, "alice@example.test")
        self.assertTrue(data.startswith(b"Return-Path: <>\n"), data)

    def test_line_ends_8bit_and_long_lines(self):
        body = "gr\u00fc\u00dfe\r\nlf only\nbare\rcr\n".encode() + b"z" * 2500 + b"\n"
        r = self.run_ok(["-v", "-f", "cron@example.test", "alice@example.test"], b"Subject: mix\n\n" + body)
        self.assertIn(b"BODY=8BITMIME", r.stderr)
        data = read_one(self.f, "alice@example.test")
        self.assertIn("\n\ngr\u00fc\u00dfe\nlf only\nbarecr\n".encode(), data)
        self.assertNotIn(b"\r", data)
        self.assertIn(b"\n" + b"z" * 998 + b"\n" + b"z" * 998 + b"\n" + b"z" * 504 + b"\n", data)

    def test_large_message(self):
        lines = [b"%07d %s" % (i, b"." * 60) for i in range(60000)]   # ~4 MB: a temp file
        body = b"\n".join(lines) + b"\n"
        self.run_ok(["-f", "cron@example.test", "bob@example.test"], b"Subject: big\n\n" + body)
        data = read_one(self.f, "bob@example.test")
        self.assertTrue(data.endswith(b"\n\n" + body))

    def test_unknown_recipient_queues_nothing(self):
        r = sendmail(self.f.conf, ["-f", "cron@example.test", "alice@example.test",
                                   "nobody@example.test", "bob@example.test"], b"Subject: u\n\nx\n")
        self.assertEqual(r.returncode, EX_NOUSER, r.stderr)
        self.assertIn(b"RCPT TO:<nobody@example.test>", r.stderr)
        self.assertIn(b"550 5.1.1", r.stderr)
        time.sleep(0.5)
        self.assertEqual(maildir_messages(self.f, "alice@example.test"), [])
        self.assertEqual(maildir_messages(self.f, "bob@example.test"), [])

    def test_no_recipients(self):
        r = sendmail(self.f.conf, ["-t"], b"Subject: none\n\nx\n")
        self.assertEqual(r.returncode, EX_USAGE)
        self.assertIn(b"ferry-sendmail: no recipients", r.stderr)
        r = sendmail(self.f.conf, [], b"Subject: none\n\nx\n")
        self.assertEqual(r.returncode, EX_USAGE)
        self.assertIn(b"no recipients", r.stderr)

    def test_bad_addresses(self):
        r = sendmail(self.f.conf, ["-t"], b"To: John Doe\n\nx\n")
        self.assertEqual(r.returncode, EX_DATAERR, r.stderr)
        self.assertIn(b"To: header", r.stderr)
        r = sendmail(self.f.conf, ["a@example.test\r\nRSET"], b"x\n")
        self.assertEqual(r.returncode, EX_USAGE, r.stderr)
        r = sendmail(self.f.conf, ["-f", "a b@example.test", "alice@example.test"], b"x\n")
        self.assertEqual(r.returncode, EX_USAGE, r.stderr)

    def test_unsupported_modes(self):
        for args in (["-bs"], ["-q"], ["-bd"]):
            r = sendmail(self.f.conf, args, b"")
            self.assertEqual(r.returncode, EX_USAGE, args)
            self.assertIn(b"not supported", r.stderr)
        r = sendmail(self.f.conf, ["-bi"], b"")
        self.assertEqual(r.returncode, 0)

    def test_bp_lists_the_queue_through_ferryctl(self):
        r = sendmail(self.f.conf, ["-bp"], b"")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"empty", r.stdout.lower() + r.stderr.lower())


def in_etc_overlay(etc_files, argv, **kw):
    """Run argv as root in a private mount namespace whose /etc is an overlay
    with etc_files ({relative path: text}) added: the command sees e.g. an
    /etc/ferry/ferry.conf that the machine does not have, and nothing
    outside the namespace changes. None when the machine cannot do that."""
    if os.getuid() != 0 or shutil.which("unshare") is None:
        return None
    tmp = tempfile.mkdtemp(prefix="ferryetc.")
    upper, work = os.path.join(tmp, "upper"), os.path.join(tmp, "work")
    os.makedirs(work)
    for rel, text in etc_files.items():
        os.makedirs(os.path.dirname(os.path.join(upper, rel)), exist_ok=True)
        with open(os.path.join(upper, rel), "w") as f:
            f.write(text)
    script = ('mount --make-rprivate / && mount -t overlay overlay -o lowerdir=/etc,upperdir=%s,'
              'workdir=%s /etc && exec "$@"' % (upper, work))
    probe = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", "true"], capture_output=True)
    if probe.returncode != 0:
        shutil.rmtree(tmp)
        return None
    try:
        return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh"] + argv, **kw)
    finally:
        shutil.rmtree(tmp)


class SendmailMailqTest(unittest.TestCase):
    """Defect 5: mailq (-bp, or called as mailq) lists the queue of the
    configuration ferry-sendmail itself reads: -C, $FERRY_CONFIG, else
    /etc/ferry/ferry.conf. It used to run ferryctl on ./var without -C."""

    @classmethod
    def setUpClass(cls):
        cls.f = Ferryd().start()          # delivery off: the message stays queued
        with smtplib.SMTP("127.0.0.1", cls.f.mx) as s:
            s.sendmail("queued@example.org", ["alice@example.test"], b"Subject: q\r\n\r\nx\r\n")
        cls.qid = os.path.basename(cls.f.queue_files()[0])
        cls.mailq = os.path.join(cls.f.tmp, "mailq")
        os.symlink(os.path.abspath(SENDMAIL), cls.mailq)

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()

    def assert_lists_the_message(self, r):
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(self.qid.encode(), r.stdout)
        self.assertIn(b"alice@example.test", r.stdout)

    def test_bp_and_mailq_with_C(self):
        self.assert_lists_the_message(sendmail(self.f.conf, ["-bp"], b""))
        r = subprocess.run([self.mailq, "-C", self.f.conf], capture_output=True, timeout=60)
        self.assert_lists_the_message(r)

    def test_mailq_without_C_reads_etc_ferry_ferry_conf(self):
        with open(self.f.conf) as fh:
            conf = fh.read()
        env = {k: v for k, v in os.environ.items() if k != "FERRY_CONFIG"}
        cwd = tempfile.mkdtemp(prefix="ferrycwd.")   # no ./var here: the embedded default's spool
        for argv in ([self.mailq], [os.path.abspath(SENDMAIL), "-bp"]):
            r = in_etc_overlay({"ferry/ferry.conf": conf}, argv, capture_output=True, timeout=60,
                               env=env, cwd=cwd)
            if r is None:
                self.skipTest("needs root, unshare and overlayfs for a private /etc/ferry")
            self.assert_lists_the_message(r)
        shutil.rmtree(cwd)


def as_nobody(argv, **kw):
    """argv run as nobody:nogroup with no supplementary groups."""
    return subprocess.run(["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"] +
                          argv, capture_output=True, timeout=60, **kw)


class SendmailUnprivilegedTest(unittest.TestCase):
    """Any user may send (cron mail): the configuration's private files are
    ferryd's. A dkim_sign key readable by root alone used to stop
    ferry-sendmail for every other user (exit 78, "Permission denied")."""

    @classmethod
    def setUpClass(cls):
        if os.getuid() != 0 or shutil.which("setpriv") is None:
            raise unittest.SkipTest("needs root and setpriv to run as another user")
        cls.keys = tempfile.mkdtemp(prefix="ferrykeys.")
        os.chmod(cls.keys, 0o755)
        cls.key = os.path.join(cls.keys, "s1.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "ED25519", "-out", cls.key],
                       check=True, capture_output=True)
        os.chmod(cls.key, 0o600)
        cls.f = Ferryd(extra="dkim_sign example.test s1 %s" % cls.key).start()

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()
        shutil.rmtree(cls.keys)

    def test_non_root_user_submits(self):
        self.assertNotEqual(as_nobody(["cat", self.key]).returncode, 0)   # the key is private
        r = as_nobody([SENDMAIL, "-C", self.f.conf, "-f", "cron@example.test", "alice@example.test"],
                      input=b"Subject: cron\n\nx\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, b"")
        self.assertTrue(wait_for(lambda: len(self.f.queue_files()) == 1))

    def test_non_root_ferryctl_reads_the_configuration(self):
        # the control socket is not nobody's; the configuration was read
        r = as_nobody([ferrytest.FERRYCTL, "-c", self.f.conf, "queue", "list"])
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn(b"dkim_sign", r.stderr)
        self.assertIn(b"control.sock", r.stderr)

    def test_syntax_of_dkim_sign_still_checked(self):
        bad = os.path.join(self.f.tmp, "bad.conf")
        with open(bad, "w") as fh:
            fh.write("spool_dir %s\ndkim_sign example.test bad/selector %s\n" % (self.f.spool, self.key))
        os.chmod(bad, 0o644)
        r = as_nobody([SENDMAIL, "-C", bad, "alice@example.test"], input=b"x\n")
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn(b"bad.conf:2: dkim_sign: bad domain", r.stderr)

    def test_setid_mailq_refused(self):
        """Set-id, mailq would exec ferryctl, found on the caller's PATH,
        with the borrowed group and the caller's environment."""
        tmp = tempfile.mkdtemp(prefix="ferrysetid.")
        try:
            os.chmod(tmp, 0o755)
            prog, bindir = os.path.join(tmp, "ferry-sendmail"), os.path.join(tmp, "bin")
            shutil.copy(SENDMAIL, prog)
            os.chown(prog, 0, 0)
            os.chmod(prog, 0o2755)                    # setgid root
            os.mkdir(bindir, 0o755)
            with open(os.path.join(bindir, "ferryctl"), "w") as fh:
                fh.write("#!/bin/sh\necho CALLER-FERRYCTL\n")
            os.chmod(os.path.join(bindir, "ferryctl"), 0o755)
            env = {k: v for k, v in os.environ.items() if k != "FERRY_CONFIG"}
            env["PATH"] = bindir + ":/usr/bin:/bin"
            for argv in ([prog, "-bp"], [prog, "-bp", "-C", self.f.conf]):
                r = as_nobody(argv, env=env)
                self.assertNotIn(b"CALLER-FERRYCTL", r.stdout)
                self.assertIn(b"mailq (-bp) is refused in a set-id program", r.stderr)
                # a sanitizer build: LeakSanitizer cannot inspect a set-id
                # process (nor read its ASAN_OPTIONS) and exits 1 after us
                if b"LeakSanitizer has encountered a fatal error" not in r.stderr:
                    self.assertEqual(r.returncode, EX_USAGE, r.stderr)
        finally:
            shutil.rmtree(tmp)


class SendmailNoDaemonTest(unittest.TestCase):
    def test_ferryd_not_running_is_tempfail(self):
        f = Ferryd()   # configuration written, daemon never started
        r = sendmail(f.conf, ["-f", "cron@example.test", "alice@example.test"], b"Subject: x\n\nx\n")
        self.assertEqual(r.returncode, EX_TEMPFAIL, r.stderr)
        self.assertIn(b"cannot connect to ferryd", r.stderr)
        self.assertIn(os.path.join(f.spool, "submit.sock").encode(), r.stderr)

    def test_bad_config(self):
        r = sendmail("/nonexistent/ferry.conf", ["alice@example.test"], b"x\n")
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn(b"/nonexistent/ferry.conf", r.stderr)


class FakeServer:
    """A scripted SMTP server on a Unix socket: each entry of replies is
    sent after the matching client line (the first before any); "CLOSE", or
    running out of replies, closes the connection."""

    def __init__(self, replies):
        self.tmp = tempfile.mkdtemp(prefix="ferrysm.")
        self.path = os.path.join(self.tmp, "submit.sock")
        self.conf = os.path.join(self.tmp, "ferry.conf")
        with open(self.conf, "w") as fh:
            fh.write("spool_dir %s\nsubmit_socket %s\ndomain example.test\n" % (self.tmp, self.path))
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(1)
        self.replies = list(replies)
        self.received = b""
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _ = self.sock.accept()
        conn.settimeout(10)
        buf = b""
        in_data = False     # after a 354: the next "line" ends at CRLF.CRLF
        try:
            conn.sendall(self.replies.pop(0))
            while self.replies:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                buf += chunk
                self.received += chunk
                while True:
                    end = b"\r\n.\r\n" if in_data else b"\r\n"
                    if end not in buf:
                        break
                    _, buf = buf.split(end, 1)
                    in_data = False
                    reply = self.replies.pop(0) if self.replies else None
                    if reply is None or reply == b"CLOSE":
                        return
                    conn.sendall(reply)
                    in_data = reply.startswith(b"354")
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.sock.close()
        self.thread.join(5)
        shutil.rmtree(self.tmp, ignore_errors=True)


EHLO_OK = b"250-fake\r\n250-SIZE 1000000\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"


class SendmailFakeServerTest(unittest.TestCase):
    def run_against(self, replies, args=("alice@example.test",), msg=b"Subject: s\n\nbody\n"):
        srv = FakeServer(replies)
        try:
            r = sendmail(srv.conf, ["-f", "cron@example.test"] + list(args), msg)
        finally:
            srv.close()
        return r, srv

    def test_success_dialogue(self):
        r, srv = self.run_against([b"220 fake\r\n", EHLO_OK, b"250 ok\r\n", b"250 ok\r\n",
                                   b"354 go\r\n", b"250 queued\r\n", b"221 bye\r\n"],
                                  msg=b"Subject: s\n\n.leading\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"EHLO localhost\r\n", srv.received)
        self.assertIn(b"MAIL FROM:<cron@example.test> SIZE=", srv.received)
        self.assertIn(b"\r\n\r\n..leading\r\n.\r\n", srv.received)    # dot-stuffed
        self.assertTrue(srv.received.endswith(b"QUIT\r\n"))

    def test_tempfail_greeting(self):
        r, _ = self.run_against([b"421 4.3.2 shutting down\r\n", b"221 bye\r\n"])
        self.assertEqual(r.returncode, EX_TEMPFAIL)
        self.assertIn(b"421 4.3.2 shutting down", r.stderr)

    def test_malformed_replies_are_tempfail(self):
        for bad in (b"250 ok\n", b"2x0 ok\r\n", b"250-a\r\n251 b\r\n", b"hello\r\n",
                    b"250" + b"x" * 5000 + b"\r\n", b"250 ok\r\n"[:4]):
            r, _ = self.run_against([b"220 fake\r\n", EHLO_OK, bad])
            self.assertEqual(r.returncode, EX_TEMPFAIL, (bad, r.stderr))
            self.assertIn(b"ferry-sendmail:", r.stderr)

    def test_bare_lf_reply_is_malformed(self):
        # ferryd ends every reply line with CRLF: a peer that does not is not ferryd
        # speaking, even when the rest of the dialogue would succeed.
        r, srv = self.run_against([b"220 fake\n", EHLO_OK, b"250 ok\r\n", b"250 ok\r\n",
                                   b"354 go\r\n", b"250 queued\r\n", b"221 bye\r\n"])
        self.assertEqual(r.returncode, EX_TEMPFAIL, r.stderr)
        self.assertIn(b"greeting: malformed reply from ferryd", r.stderr)
        self.assertNotIn(b"MAIL FROM", srv.received)

    def test_multiline_refusal_reported_whole(self):
        r, _ = self.run_against([b"220 fake\r\n", EHLO_OK, b"250 ok\r\n",
                                 b"550-5.1.1 no such user\r\n550 5.1.1 here\r\n", b"221 bye\r\n"])
        self.assertEqual(r.returncode, EX_NOUSER, r.stderr)
        self.assertIn(b"ferryd replied: 550 5.1.1 no such user here", r.stderr)

    def test_connection_dropped(self):
        r, _ = self.run_against([b"220 fake\r\n", EHLO_OK, b"250 ok\r\n", b"CLOSE"])
        self.assertEqual(r.returncode, EX_TEMPFAIL)
        self.assertIn(b"closed the connection", r.stderr)

    def test_refusal_exit_codes(self):
        cases = [
            ([b"250 ok\r\n", b"550 5.1.1 no such user\r\n"], EX_NOUSER),
            ([b"250 ok\r\n", b"452 4.5.3 too many\r\n"], EX_TEMPFAIL),
            ([b"250 ok\r\n", b"554 5.7.1 relay denied\r\n"], EX_UNAVAILABLE),
            ([b"552 5.3.4 too big\r\n"], EX_DATAERR),
            ([b"501 5.5.4 syntax\r\n"], EX_SOFTWARE),
            ([b"250 ok\r\n", b"250 ok\r\n", b"354 go\r\n", b"554 5.6.0 content refused\r\n"],
             EX_DATAERR),
            ([b"250 ok\r\n", b"250 ok\r\n", b"451 4.3.0 queue error\r\n"], EX_TEMPFAIL),
        ]
        for script, want in cases:
            r, _ = self.run_against([b"220 fake\r\n", EHLO_OK] + script + [b"221 bye\r\n"])
            self.assertEqual(r.returncode, want, (script, r.stderr))
            self.assertIn(b"ferryd replied:", r.stderr)


if __name__ == "__main__":
    ferrytest.main()
