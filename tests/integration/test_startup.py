"""ferryd's start-up on its spool: run from a checkout whose parent the run
user cannot search (root's 0700 home: `git clone` into /root, `make run`),
with the spool given relative (the embedded default's ./var) or absolute;
paths the run user cannot reach fail at start, naming the path; and one
instance per spool (a second exits with "already running").

Unlike ferrytest.Ferryd, nothing here opens the test directory to others:
the outer directory stays 0700, as /root is."""
import os
import re
import shutil
import signal
import smtplib
import subprocess
import tempfile
import unittest

import ferrytest
from ferrytest import FERRYD, FERRYCTL, free_port, tls_context, wait_for, wait_port
from receiver import Receiver

MSG = b"From: a@sender.test\r\nTo: alice@example.test\r\nSubject: hi\r\n\r\nhello\r\n"


class Daemon:
    """A ferryd from a checkout-like directory inside a 0700 directory."""

    def __init__(self, spool, absolute=False):
        self.outer = tempfile.mkdtemp(prefix="ferryclosed.")     # 0700, like /root
        os.chmod(self.outer, 0o700)
        self.checkout = os.path.join(self.outer, "checkout")    # 0755, like a clone
        os.mkdir(self.checkout, 0o755)
        # stderr (the log) outside the closed directory, for the test to read
        self.logdir = tempfile.mkdtemp(prefix="ferryclosedlog.")
        self.stderr_path = os.path.join(self.logdir, "stderr")
        self.spool = os.path.join(self.checkout, spool)
        if absolute:
            spool = self.spool
        # absolute: started from / with every path absolute
        self.cwd = "/" if absolute else self.checkout
        self.mx, self.submission = free_port(), free_port()
        self.rx = Receiver("127.0.0.2")
        self.conf = os.path.join(self.checkout, "ferry.conf")
        with open(self.conf, "w") as f:
            f.write("hostname mx.ferry.test\nspool_dir %s\nworkers 2\n"
                    "listen mx 127.0.0.1:%d\nlisten submission 127.0.0.1:%d\n"
                    "domain example.test\nmailbox alice@example.test\n"
                    "dns_servers 127.0.0.1:9\nretry_min 1\n"
                    "route * smtp:127.0.0.2:%d\n"
                    % (spool, self.mx, self.submission, self.rx.port))
        self.proc = None

    def start(self, wait=True):
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen([FERRYD, "-c", self.conf], cwd=self.cwd,
                                         stdout=subprocess.DEVNULL, stderr=err)
        if wait:
            wait_port(self.mx, proc=self.proc)
        return self

    def stderr(self):
        return ferrytest.read_text(self.stderr_path)

    def ctl(self, *args, input=None):
        return subprocess.run([FERRYCTL, "-c", self.conf] + list(args), cwd=self.cwd,
                              input=input, capture_output=True, text=True, check=True)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.rx.stop()
        shutil.rmtree(self.outer, ignore_errors=True)
        shutil.rmtree(self.logdir, ignore_errors=True)


class ClosedParentTest(unittest.TestCase):
    def run_mail(self, absolute):
        d = Daemon("var", absolute)
        self.addCleanup(d.stop)
        self.assertEqual(os.stat(d.outer).st_mode & 0o777, 0o700)
        d.start()
        d.ctl("user", "add", "--password-stdin", "bob@example.test", input="bob-pass\n")
        # a tenant whose DKIM keys ferryctl keeps under the spool (by absolute path)
        d.ctl("tenant", "add", "acme")
        d.ctl("domain", "add", "acme", "acme.test")
        key = d.ctl("key", "create", "acme").stdout.splitlines()[0].strip()
        # a hosted mailbox: RCPT reads the state database (connectors) as the run user
        with smtplib.SMTP("127.0.0.1", d.mx) as s:
            s.ehlo("client.test")
            s.mail("a@sender.test")
            code, text = s.rcpt("alice@example.test")
            self.assertEqual(code, 250, text)
            s.data(MSG)
        new = os.path.join(d.spool, "mail", "example.test", "alice", "new")
        self.assertTrue(wait_for(lambda: os.path.isdir(new) and len(os.listdir(new)) == 1),
                        d.stderr())
        # a relayed submission: AUTH against the users file, then out to the receiver
        with smtplib.SMTP("127.0.0.1", d.submission) as s:
            s.starttls(context=tls_context())
            s.login("bob@example.test", "bob-pass")
            s.sendmail("bob@example.test", ["carol@remote.test"], MSG)
        self.assertTrue(d.rx.wait(1), d.stderr())
        self.assertEqual(d.rx.messages[0]["rcpts"], ["carol@remote.test"])
        with smtplib.SMTP("127.0.0.1", d.submission) as s:
            s.starttls(context=tls_context())
            s.login("apikey", key)
            s.sendmail("news@acme.test", ["dave@remote.test"],
                       MSG.replace(b"a@sender.test", b"news@acme.test"))
        self.assertTrue(d.rx.wait(2), d.stderr())
        data = d.rx.messages[1]["data"]
        self.assertEqual(len(re.findall(rb"^DKIM-Signature:.*?d=acme\.test;", data, re.M | re.S)), 2,
                         d.stderr())
        self.assertNotIn("connector-lookup-failed", d.stderr())
        self.assertNotIn("level=error", d.stderr())
        if absolute:
            # a reload reads the configuration as the run user, who cannot
            # search the 0700 directory: said at start
            self.assertIn("user ferry cannot read the configuration: %s: Permission denied"
                          % d.conf, d.stderr())
        else:
            # relative to the start directory, which ferryd holds open:
            # a reload reads it (and the relative spool stays the spool)
            self.assertNotIn("cannot read the configuration", d.stderr())
            d.proc.send_signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: "event=reloaded" in d.stderr()), d.stderr())
            self.assertNotIn("reload-failed", d.stderr())
            with smtplib.SMTP("127.0.0.1", d.mx) as s:
                s.sendmail("a@sender.test", ["alice@example.test"], MSG)
            self.assertTrue(wait_for(lambda: len(os.listdir(new)) == 2), d.stderr())

    def test_relative_spool(self):
        self.run_mail(False)

    def test_absolute_spool(self):
        self.run_mail(True)

    def test_unreachable_users_file_fails_at_start(self):
        d = Daemon("var")
        self.addCleanup(d.stop)
        users = os.path.join(d.outer, "users")
        with open(d.conf, "a") as f:
            f.write("users_file %s\n" % users)
        d.start(wait=False)
        self.assertEqual(d.proc.wait(30), 1)
        self.assertIn("cannot reach the users file %s: Permission denied" % users, d.stderr())


class ReloadTest(unittest.TestCase):
    def test_unreadable_certificate_keeps_the_running_one(self):
        """A key only root may read (0600, root's) loads at start; the
        reload, as the run user, cannot read it: TLS stays on."""
        f = ferrytest.Ferryd()
        key, cert = os.path.join(f.tmp, "key.pem"), os.path.join(f.tmp, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "1", "-subj", "/CN=mx.ferry.test"],
                       check=True, capture_output=True)
        os.chmod(key, 0o600)
        with open(f.conf, "a") as c:
            c.write("tls_cert %s\ntls_key %s\n" % (cert, key))
        f.start()
        self.addCleanup(f.stop)
        self.assertIn("user ferry cannot reach the TLS key %s" % key, f.log_text())
        f.hup()
        self.assertTrue(wait_for(lambda: "event=reloaded" in f.log_text()), f.log_text())
        with smtplib.SMTP("127.0.0.1", f.submission) as s:
            s.ehlo("client.test")
            self.assertTrue(s.has_extn("starttls"), f.log_text())
            self.assertEqual(s.starttls(context=tls_context())[0], 220)
        self.assertIn("keeping the running TLS certificate", f.log_text())


class SecondInstanceTest(unittest.TestCase):
    def test_second_instance_on_the_same_spool_exits(self):
        d = Daemon("var")
        self.addCleanup(d.stop)
        d.start()
        second = subprocess.run([FERRYD, "-c", "ferry.conf"], cwd=d.checkout,
                                capture_output=True, text=True, timeout=30)
        self.assertNotEqual(second.returncode, 0)
        self.assertEqual(second.stderr, "ferryd: already running (pid %d) on %s\n"
                         % (d.proc.pid, d.spool))
        # the first one still serves
        with smtplib.SMTP("127.0.0.1", d.mx) as s:
            self.assertEqual(s.noop()[0], 250)


if __name__ == "__main__":
    ferrytest.main()
