"""swaks, the admin's SMTP swiss army knife, against ferryd."""
import shutil
import subprocess
import unittest

import ferrytest
from ferrytest import Ferryd


def swaks(*args):
    return subprocess.run(["swaks", "--silent", "1", "--timeout", "20"] + list(args),
                          capture_output=True, text=True, timeout=60)


class SwaksTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("swaks") is None:
            raise AssertionError("swaks missing: run scripts/setup.sh")
        cls.f = Ferryd().start()
        cls.f.user_add("bob@example.test", "swaks-pass")

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()

    def test_to_hosted_mailbox(self):
        n = len(self.f.queue_files())
        r = swaks("--server", "127.0.0.1:%d" % self.f.mx, "--to", "alice@example.test",
                  "--from", "x@sender.test", "--pipeline")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(len(self.f.queue_files()), n + 1)

    def test_relay_refused_without_auth(self):
        r = swaks("--server", "127.0.0.1:%d" % self.f.mx, "--to", "x@elsewhere.test",
                  "--from", "x@sender.test")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("554 5.7.1", r.stdout + r.stderr)

    def test_starttls_auth_to_any_address(self):
        n = len(self.f.queue_files())
        r = swaks("--server", "127.0.0.1:%d" % self.f.submission, "--tls", "--auth", "PLAIN",
                  "--auth-user", "bob@example.test", "--auth-password", "swaks-pass",
                  "--to", "anyone@far-away.test", "--from", "bob@example.test")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(len(self.f.queue_files()), n + 1)

    def test_wrong_password(self):
        r = swaks("--server", "127.0.0.1:%d" % self.f.submission, "--tls", "--auth", "LOGIN",
                  "--auth-user", "bob@example.test", "--auth-password", "nope",
                  "--to", "anyone@far-away.test", "--from", "bob@example.test")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("535 5.7.8", r.stdout + r.stderr)


if __name__ == "__main__":
    ferrytest.main()
