"""Reload, graceful shutdown, and the embedded default as a new user sees it."""
import os
import signal
import smtplib
import subprocess
import tempfile
import unittest

import ferrytest
from ferrytest import Ferryd, RawClient, tls_context, wait_for

MSG = b"Subject: t\r\n\r\nbody\r\n"


class ReloadTest(unittest.TestCase):
    def test_sighup_adds_mailbox_without_dropping_sessions(self):
        f = Ferryd().start()
        try:
            c = RawClient(f.mx)
            c.reply()
            c.cmd("EHLO x.test")
            c.cmd("MAIL FROM:<a@s.test>")
            self.assertEqual(c.cmd("RCPT TO:<carol@example.test>")[0], 550)
            with open(f.conf, "a") as fh:
                fh.write("mailbox carol@example.test\n")
            f.hup()
            self.assertTrue(wait_for(lambda: "event=reloaded" in f.log_text()))
            # The old session keeps its configuration and its transaction.
            self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(MSG + b".\r\n")
            self.assertEqual(c.reply()[0], 250)
            # A new session sees the new mailbox.
            c2 = RawClient(f.mx)
            c2.reply()
            c2.cmd("EHLO x.test")
            c2.cmd("MAIL FROM:<a@s.test>")
            self.assertEqual(c2.cmd("RCPT TO:<carol@example.test>")[0], 250)
            c.close()
            c2.close()   # an open transaction would hold SIGTERM for timeout_shutdown
        finally:
            f.stop()

    def test_bad_reload_keeps_running_config(self):
        f = Ferryd().start()
        try:
            with open(f.conf, "a") as fh:
                fh.write("this is not an option\n")
            f.hup()
            self.assertTrue(wait_for(lambda: "event=reload-failed" in f.log_text()))
            with smtplib.SMTP("127.0.0.1", f.mx) as s:
                s.sendmail("a@s.test", ["alice@example.test"], MSG)
        finally:
            f.stop()

    def rcpt_code(self, f, rcpt):
        c = RawClient(f.mx)
        c.reply()
        c.cmd("EHLO x.test")
        c.cmd("MAIL FROM:<a@s.test>")
        code = c.cmd("RCPT TO:<%s>" % rcpt)[0]
        c.close()
        return code

    def test_reload_refuses_what_needs_a_restart(self):
        """A reload that moves the spool, the state database, a socket or
        the user is refused as a whole: half of a new spool_dir used to
        follow (users file, Maildirs, TLS files) while the queue, lock and
        sockets stayed, without a word."""
        f = Ferryd().start()
        try:
            with open(f.conf) as fh:
                base = fh.read()
            other = os.path.join(f.tmp, "other")
            changes = [("spool_dir", "spool_dir " + other),
                       ("state_db", "state_db " + os.path.join(other, "ferry.db")),
                       ("control_socket", "control_socket " + os.path.join(f.tmp, "c.sock")),
                       ("submit_socket", "submit_socket " + os.path.join(f.tmp, "s.sock")),
                       ("user", "user root")]
            for name, line in changes:
                # the option set anew, not twice (state_db is there on PostgreSQL)
                text = "".join(l for l in base.splitlines(True) if not l.startswith(name + " "))
                with open(f.conf, "w") as fh:
                    fh.write(text + line + "\nmailbox carol@example.test\n")
                f.hup()
                want = 'event=reload-failed reason="%s changed: restart needed"' % name
                self.assertTrue(wait_for(lambda: want in f.log_text()), f.log_text())
                self.assertEqual(self.rcpt_code(f, "carol@example.test"), 550)   # not applied
            self.assertFalse(os.path.exists(other))
            self.assertNotIn("event=reloaded", f.log_text())
            # The same spool written another way is no change.
            with open(f.conf, "w") as fh:
                fh.write(base.replace("spool_dir " + f.spool, "spool_dir " + f.spool + "/./") +
                         "mailbox carol@example.test\n")
            f.hup()
            self.assertTrue(wait_for(lambda: "event=reloaded" in f.log_text()), f.log_text())
            self.assertEqual(self.rcpt_code(f, "carol@example.test"), 250)
        finally:
            f.stop()

    def test_users_file_change_needs_no_signal(self):
        f = Ferryd().start()
        try:
            f.user_add("dave@example.test", "first-pass")
            with smtplib.SMTP("127.0.0.1", f.submission) as s:
                s.starttls(context=tls_context())
                s.login("dave@example.test", "first-pass")
        finally:
            f.stop()


class ShutdownTest(unittest.TestCase):
    def client_in_data(self, f):
        """A client whose transaction is open: DATA answered 354."""
        c = RawClient(f.mx)
        c.reply()
        c.cmd("EHLO x.test")
        c.cmd("MAIL FROM:<a@s.test>")
        c.cmd("RCPT TO:<alice@example.test>")
        self.assertEqual(c.cmd("DATA")[0], 354)
        return c

    def test_sigterm_finishes_transaction_in_progress(self):
        f = Ferryd().start()
        busy = self.client_in_data(f)
        idle = RawClient(f.mx)
        idle.reply()
        idle.cmd("EHLO idle.test")
        f.proc.send_signal(signal.SIGTERM)
        code, lines = idle.reply()
        self.assertEqual(code, 421, lines)
        self.assertTrue(idle.closed())
        busy.send(MSG + b".\r\n")
        code, lines = busy.reply()
        self.assertEqual(code, 250, lines)
        queued_id = lines[0].split()[-1]
        code, lines = busy.reply()
        self.assertEqual(code, 421)
        self.assertEqual(f.proc.wait(20), 0)
        self.assertIn(queued_id, [os.path.basename(p) for p in f.queue_files()])
        self.assertIn("event=stopped", f.log_text())

    def test_sigterm_deadline_closes_stalled_transaction(self):
        """A client that stops mid-DATA cannot hold a stop past
        timeout_shutdown: the worker aborts it and nothing half-received is
        queued."""
        f = Ferryd(extra="timeout_shutdown 1s").start()
        stalled = self.client_in_data(f)
        stalled.send(b"Subject: half\r\n")
        f.proc.send_signal(signal.SIGTERM)
        self.assertEqual(f.proc.wait(20), 0)
        self.assertTrue(stalled.closed())
        self.assertIn("event=shutdown-abort", f.log_text())
        self.assertIn("event=stopped", f.log_text())
        self.assertEqual(f.queue_files(), [])


class EmbeddedDefaultTest(unittest.TestCase):
    """`make run` as a new user: no config, ./var, 127.0.0.1:2525/2587/2465,
    the HTTP API on 127.0.0.1:8025."""

    def test_embedded_default(self):
        d = tempfile.mkdtemp(prefix="ferryembedded.")
        os.chmod(d, 0o755)
        busy = [p for p in (2525, 2587, 2465, 8025)
                if subprocess.run(["ss", "-Hltn", "sport = :%d" % p], capture_output=True,
                                  text=True).stdout.strip()]
        if busy:
            self.skipTest("ports in use: %s" % busy)
        proc = subprocess.Popen([ferrytest.FERRYD], cwd=d, stderr=open(os.path.join(d, "log"), "w"))
        try:
            for p in (2525, 2587, 2465):
                ferrytest.wait_port(p, proc=proc)
            self.assertTrue(os.path.exists(os.path.join(d, "var/tls/cert.pem")))
            self.assertEqual(os.stat(os.path.join(d, "var/tls/key.pem")).st_mode & 0o777, 0o600)
            with smtplib.SMTP("127.0.0.1", 2525) as s:
                s.sendmail("a@s.test", ["postmaster@localhost"], MSG)
                code, _ = s.docmd("RCPT", "TO:<x@example.org>")
            subprocess.run([ferrytest.FERRYCTL, "user", "add", "--password-stdin", "me"],
                           input=b"pw-123456\n", cwd=d, check=True, stdout=subprocess.DEVNULL)
            with smtplib.SMTP("127.0.0.1", 2587) as s:
                s.starttls(context=tls_context())
                s.login("me", "pw-123456")
                # an address literal: routed to that address, no DNS (tests
                # never query the machine's resolver)
                s.sendmail("me@localhost", ["friend@[127.0.0.1]"], MSG)
            with open(os.path.join(d, "log")) as fh:
                self.assertEqual(fh.read().count("event=queued"), 2)
            # unauthenticated relay from loopback is refused even here
            with smtplib.SMTP("127.0.0.1", 2525) as s:
                s.ehlo()
                s.mail("a@s.test")
                code, msg = s.rcpt("x@example.org")
                self.assertEqual(code, 554)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)


if __name__ == "__main__":
    ferrytest.main()
