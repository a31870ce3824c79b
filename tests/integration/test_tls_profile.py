"""The server's TLS profile (issue 8, defect 10): Mozilla's intermediate
profile on implicit TLS (465, RFC 8314) and STARTTLS (587, RFC 3207):
TLS 1.2 and 1.3 only, on TLS 1.2 only ECDHE key exchange with AEAD ciphers.
Checked with Python's ssl as a client offering only what must be refused,
and with testssl (the Debian package testssl.sh), whose JSON findings are
parsed: no protocol below TLS 1.2, no CBC or weaker cipher, no
vulnerability flagged.
"""
import json
import os
import shutil
import socket
import ssl
import subprocess
import unittest

import ferrytest
from ferrytest import Ferryd, RawClient

TESTSSL = shutil.which("testssl") or shutil.which("testssl.sh")

# CBC suites an ECDSA (the embedded default key) or RSA server could pick on TLS 1.2
CBC = ("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA:"
       "ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES128-SHA:AES128-SHA256:AES128-SHA")


def client_ctx(ciphers=None, version=ssl.TLSVersion.TLSv1_2):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = version
    ctx.maximum_version = version
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def setUpModule():
    global F
    F = Ferryd().start()


def tearDownModule():
    F.stop()


class ProfileTest(unittest.TestCase):
    def implicit(self, ctx):
        """Handshake on the implicit TLS port: the negotiated (version, cipher)."""
        with socket.create_connection(("127.0.0.1", F.submissions), timeout=10) as s:
            with ctx.wrap_socket(s) as t:
                return t.version(), t.cipher()[0]

    def starttls(self, ctx):
        c = RawClient(F.submission)
        try:
            self.assertEqual(c.reply()[0], 220)
            c.cmd("EHLO client.test")
            self.assertEqual(c.cmd("STARTTLS")[0], 220)
            t = ctx.wrap_socket(c.sock)
            c.sock = t
            return t.version(), t.cipher()[0]
        finally:
            c.close()

    def both(self, ctx):
        return [self.implicit(ctx), self.starttls(ctx)]

    def test_cbc_refused(self):
        for port in (self.implicit, self.starttls):
            with self.assertRaises(ssl.SSLError, msg=port.__name__):
                port(client_ctx(CBC))

    def test_tls11_refused(self):
        ctx = client_ctx("DEFAULT:@SECLEVEL=0", ssl.TLSVersion.TLSv1_1)
        for port in (self.implicit, self.starttls):
            with self.assertRaises(ssl.SSLError, msg=port.__name__):
                port(ctx)

    def test_aead_on_tls12_and_tls13_accepted(self):
        for version, cipher in self.both(client_ctx("ECDHE-ECDSA-AES128-GCM-SHA256")):
            self.assertEqual((version, cipher), ("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256"))
        for version, cipher in self.both(client_ctx(version=ssl.TLSVersion.TLSv1_3)):
            self.assertEqual(version, "TLSv1.3")


@unittest.skipUnless(TESTSSL, "testssl (Debian package testssl.sh) is not installed")
class TestsslTest(unittest.TestCase):
    """testssl -p (protocols) -s (cipher categories) -f (forward secrecy)
    -U (vulnerabilities), findings read from its --jsonfile."""

    def run_testssl(self, starttls):
        out = os.path.join(F.tmp, "testssl-%s.json" % ("starttls" if starttls else "implicit"))
        port = F.submission if starttls else F.submissions
        cmd = [TESTSSL, "--quiet", "--color", "0", "--warnings", "off", "--ip", "one",
               "-p", "-s", "-f", "-U", "--jsonfile", out]
        if starttls:
            cmd += ["-t", "smtp"]
        subprocess.run(cmd + ["127.0.0.1:%d" % port], capture_output=True, timeout=900)
        with open(out) as fh:
            findings = {x["id"]: x for x in json.load(fh)}
        self.assertIn("TLS1_2", findings)            # it did run the checks
        return findings

    def check(self, findings):
        for proto in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
            self.assertIn("not offered", findings[proto]["finding"], proto)
        self.assertEqual(findings["TLS1_2"]["finding"], "offered")
        self.assertIn("offered", findings["TLS1_3"]["finding"])
        # testssl 3.0's categories; AVERAGE is "SEED + 128+256 Bit CBC ciphers"
        for cat in ("cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW",
                    "cipherlist_3DES_IDEA", "cipherlist_AVERAGE"):
            self.assertEqual(findings[cat]["finding"], "not offered", cat)
        self.assertEqual(findings["cipherlist_STRONG"]["finding"], "offered")
        # every suite offered has forward secrecy and is AEAD
        for suite in findings["PFS_ciphers"]["finding"].split():
            self.assertTrue("GCM" in suite or "CHACHA20" in suite, suite)
        bad = {k: v["finding"] for k, v in findings.items()
               if v["severity"] in ("LOW", "MEDIUM", "HIGH", "CRITICAL")}
        self.assertEqual(bad, {})
        self.assertIn("LUCKY13", findings)
        self.assertEqual(findings["LUCKY13"]["severity"], "OK")

    def test_implicit_tls(self):
        self.check(self.run_testssl(False))

    def test_starttls(self):
        self.check(self.run_testssl(True))


if __name__ == "__main__":
    ferrytest.main()
