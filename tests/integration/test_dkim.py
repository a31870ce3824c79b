"""DKIM signing on the way out (RFC 6376, RFC 8463): ferryd signs mail whose
From: is in a domain with dkim_sign keys, RSA-2048 and Ed25519 both, and two
independent verifiers, python3-dkim and OpenDKIM (`opendkim -t`, libopendkim),
check each signature against the public keys published in a test zone on a
real DNS server (unbound), for plain, 8-bit, long-folded-header and
trailing-blank-line messages. Mail from other domains leaves unsigned.

OpenDKIM is run in its test mode, not as opendkim-testmsg: that tool fails
with "dkim_chunk(): Syntax error" on any message without a Date: field
(libopendkim's dkim_eoh() refuses it: "Date: header field absent"), and it
has no way to use another DNS server than the system's. opendkim's
libunbound resolver is pointed at the test server with a forward zone;
libunbound serves "test." itself (RFC 6761) unless told not to."""
import os
import re
import smtplib
import subprocess
import tempfile
import unittest

import dkim

from dkimkeys import make_key, txt_record, dns_txt_func
from dnsserver import DnsServer

from ferrytest import Ferryd, FERRYD
from receiver import Receiver


class DkimTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.keydir = tempfile.mkdtemp(prefix="ferrydkim.")
        rsa, rsa_txt = make_key(cls.keydir, "rsa.pem", "RSA")
        ed, ed_txt = make_key(cls.keydir, "ed.pem", "ED25519")
        cls.keys = {"rsa1._domainkey.example.test.": rsa_txt, "ed1._domainkey.example.test.": ed_txt}
        # the public keys live in a real DNS server's test zone (unbound on loopback)
        cls.dnsserver = DnsServer([txt_record(n, v) for n, v in cls.keys.items()]).start()
        cls.dnsfunc = staticmethod(dns_txt_func(cls.dnsserver.port))
        cls.opendkim_conf = cls.opendkim_setup(cls.keydir, cls.dnsserver.port)
        cls.rx = Receiver("127.0.0.2")
        cls.f = Ferryd(deliver=True, relay_networks="127.0.0.0/8", extra=(
            "route * smtp:127.0.0.2:%d\ndkim_sign example.test rsa1 %s\ndkim_sign example.test ed1 %s\n"
            % (cls.rx.port, rsa, ed))).start()

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()
        cls.rx.stop()
        cls.dnsserver.stop()

    @staticmethod
    def opendkim_setup(tmp, port):
        """An opendkim.conf for verifying only, its keys from the test zone."""
        ub = os.path.join(tmp, "libunbound.conf")
        with open(ub, "w") as f:
            f.write('server:\n    do-not-query-localhost: no\n    local-zone: "test." nodefault\n'
                    'forward-zone:\n    name: "."\n    forward-addr: 127.0.0.1@%d\n' % port)
        conf = os.path.join(tmp, "opendkim.conf")
        with open(conf, "w") as f:
            f.write("Mode v\nSyslog no\nResolverConfiguration %s\n" % ub)
        return conf

    def opendkim(self, data):
        """OpenDKIM's result per signature, {selector: "pass" or "fail" ...},
        read from the Authentication-Results field it would add (-vvv
        prints it in test mode; one "dkim=" entry per signature)."""
        path = os.path.join(self.keydir, "msg.eml")
        with open(path, "wb") as f:
            f.write(data)
        r = subprocess.run(["opendkim", "-vvv", "-x", self.opendkim_conf, "-t", path],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        ar = r.stdout.split("hname='Authentication-Results'", 1)
        self.assertEqual(len(ar), 2, r.stdout + r.stderr)
        return {m.group(2): m.group(1) for m in
                re.finditer(r"dkim=(\w+).*?header\.s=([^ ;]+)", ar[1].split("'\n")[0], re.S)}

    def relay(self, msg, sender="alice@example.test", opts=()):
        n = len(self.rx.messages)
        with smtplib.SMTP("127.0.0.1", self.f.mx) as s:
            s.sendmail(sender, ["x@remote.test"], msg, mail_options=list(opts))
        self.assertTrue(self.rx.wait(n + 1))
        return self.rx.messages[n]["data"]

    def assert_both_verify(self, data):
        d = dkim.DKIM(data)
        sigs = [l for l in data.split(b"\r\n") if l.startswith(b"DKIM-Signature:")]
        self.assertEqual(len(sigs), 2, data[:600])
        for idx in range(2):
            self.assertTrue(d.verify(idx=idx, dnsfunc=self.dnsfunc), "signature %d: %r" % (idx, data[:800]))
        self.assertIn(b"a=rsa-sha256", data)
        self.assertIn(b"a=ed25519-sha256", data)
        self.assertIn(b"c=relaxed/relaxed", data)
        # and the second verifier, OpenDKIM, agrees on both
        self.assertEqual(self.opendkim(data), {"rsa1": "pass", "ed1": "pass"})

    def test_plain_message_dual_signed(self):
        data = self.relay(b"From: Alice <alice@example.test>\r\nTo: x@remote.test\r\nSubject: hi\r\n"
                          b"Date: Wed, 25 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@example.test>\r\n\r\n"
                          b"Hello  world \r\n.leading dot\r\n")
        self.assert_both_verify(data)
        # From is oversigned: one more "from" in h= than From fields
        sig = data.split(b"DKIM-Signature:")[1].split(b"bh=")[0].replace(b"\r\n\t", b" ")
        self.assertIn(b"h=from:from:to:subject:date:message-id;", sig)

    def test_8bit_folded_headers_trailing_blank_lines(self):
        subject = b"Subject: " + b" ".join([b"word%d" % i for i in range(60)])
        folded = subject[:70] + b"\r\n\t" + subject[70:]
        body = "Gr\u00fc\u00dfe aus K\u00f6ln\r\n\r\n  indented\t\ttabs  \r\n\r\n\r\n\r\n".encode("utf-8")
        data = self.relay(b"From: alice@example.test\r\nTo: x@remote.test\r\n" + folded +
                          b"\r\nContent-Type: text/plain; charset=utf-8\r\n"
                          b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body, opts=["BODY=8BITMIME"])
        self.assert_both_verify(data)

    def test_many_header_fields_still_verify(self):
        tos = b"".join(b"To: r%d@remote.test\r\n" % i for i in range(300))
        data = self.relay(b"From: alice@example.test\r\n" + tos + b"Subject: many\r\n\r\nx\r\n")
        self.assert_both_verify(data)

    def test_subdomain_signed_other_domain_not(self):
        data = self.relay(b"From: news@mail.example.test\r\nTo: x@remote.test\r\nSubject: s\r\n\r\nx\r\n")
        self.assert_both_verify(data)
        data = self.relay(b"From: bob@other.test\r\nTo: x@remote.test\r\nSubject: s\r\n\r\nx\r\n",
                          sender="bob@other.test")
        self.assertNotIn(b"DKIM-Signature", data)

    def test_tampered_body_fails(self):
        data = self.relay(b"From: alice@example.test\r\nTo: x@remote.test\r\nSubject: t\r\n\r\nbody\r\n")
        for idx in range(2):
            try:
                ok = dkim.DKIM(data.replace(b"body", b"b0dy")).verify(idx=idx, dnsfunc=self.dnsfunc)
            except dkim.ValidationError:
                ok = False
            self.assertFalse(ok)
        verdicts = self.opendkim(data.replace(b"body", b"b0dy"))
        self.assertEqual(sorted(verdicts), ["ed1", "rsa1"], verdicts)
        self.assertEqual(verdicts, {"rsa1": "fail", "ed1": "fail"})


class DkimConfigTest(unittest.TestCase):
    def test_unsafe_key_file_refused(self):
        tmp = tempfile.mkdtemp(prefix="ferrydkim.")
        path, _ = make_key(tmp, "k.pem", "ED25519")
        os.chmod(path, 0o644)
        f = Ferryd(extra="dkim_sign example.test s1 %s\n" % path)
        r = subprocess.run([FERRYD, "-t", "-c", f.conf], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("group or others", r.stderr + r.stdout)
        self.assertIn("ferry.conf:", r.stderr + r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
