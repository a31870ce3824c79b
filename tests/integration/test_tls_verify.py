"""Outbound certificate verification (issue 8, defect 4): a route with auth=
verifies the smarthost's certificate (tls=verify, the default with auth=)
against tls_ca_file or the system's CAs, for the route's host name, before
it sends the password. A real STARTTLS peer on loopback (receiver.py with an
ssl context), certificates made here with the openssl command, the host
name served by a real DNS server (unbound).
"""
import os
import ssl
import subprocess
import tempfile
import unittest

import ferrytest
from dnsserver import DnsServer
from ferrytest import Ferryd, wait_for
from receiver import Receiver
from test_delivery import FAST, send

HOST = "smarthost.test"


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_certs(d):
    """ca.pem; good (smarthost.test), other (other.test) and ip (127.0.0.2)
    signed by it; self (wrong.test) self-signed. Each NAME.pem + NAME.key."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=ferry test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
            cwd=d)
    leaves = {"good": ("DNS:" + HOST, HOST), "other": ("DNS:other.test", "other.test"),
              "ip": ("IP:127.0.0.2", "127.0.0.2")}
    for name, (san, cn) in leaves.items():
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=d)
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n" % san)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", name + ".ext", "-out", name + ".pem", cwd=d)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "self.key", "-out", "self.pem", "-days", "2", "-subj", "/CN=wrong.test",
            "-addext", "subjectAltName=DNS:wrong.test", cwd=d)


def server_ctx(d, name):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, name + ".pem"), os.path.join(d, name + ".key"))
    return ctx


def setUpModule():
    global CERTS, DNS
    CERTS = tempfile.mkdtemp(prefix="ferrycerts.")
    os.chmod(CERTS, 0o755)          # ferryd reads ca.pem after dropping root
    make_certs(CERTS)
    os.chmod(os.path.join(CERTS, "ca.pem"), 0o644)
    DNS = DnsServer(["%s. 300 IN A 127.0.0.2" % HOST, "remote.test. 300 IN MX 10 %s." % HOST]).start()


def tearDownModule():
    DNS.stop()


class SmarthostVerifyTest(unittest.TestCase):
    def tearDown(self):
        self.f.stop()
        self.rx.stop()

    def start(self, cert, route_opts="auth=user:secret", ca=True, host=HOST, mx=False,
              ca_relative=False):
        self.rx = Receiver("127.0.0.2", tls=server_ctx(CERTS, cert))
        extra = FAST + "dns_servers %s\n" % DNS.servers
        if ca:
            extra += "tls_ca_file %s\n" % ("ca.pem" if ca_relative else os.path.join(CERTS, "ca.pem"))
        if mx:      # no route: remote.test's MX host, verified by smtp_tls verify
            extra += "smtp_tls verify\nsmtp_port %d\n" % self.rx.port
        else:
            extra += "route * smtp:%s:%d %s\n" % (host, self.rx.port, route_opts)
        self.f = Ferryd(deliver=True, extra=extra, relay_networks="127.0.0.0/8").start(
            cwd=CERTS if ca_relative else None)

    def assert_deferred_unverified(self, why):
        log = self.f.log_text
        self.assertTrue(wait_for(lambda: "event=deferred" in log()), log())
        self.assertIn("4.7.5 TLS: certificate of %s not verified: %s" % (HOST, why), log())
        self.assertNotIn("event=bounced", log())
        self.assertNotIn("event=delivered", log())
        self.assertGreaterEqual(len(self.rx.tls_errors), 1)    # the handshake was cut
        self.assertEqual(self.rx.auths, [])                     # the password never left
        self.assertEqual(self.rx.messages, [])
        self.assertEqual(len(self.f.queue_files()), 1)
        self.assertIn("not verified", self.f.ctl("queue", "list").stdout)

    def test_self_signed_wrong_name_gets_no_password(self):
        # the man in the middle: a certificate nobody issued, for another name
        self.start("self", ca=False)
        send(self.f, ["x@remote.test"])
        self.assert_deferred_unverified("self-signed certificate")

    def test_ca_signed_for_another_name_defers(self):
        self.start("other")
        send(self.f, ["x@remote.test"])
        self.assert_deferred_unverified("hostname mismatch")

    def test_ca_signed_for_the_name_gets_password_and_mail(self):
        self.start("good")
        send(self.f, ["x@remote.test"])
        self.assertTrue(self.rx.wait(1), self.f.log_text())
        self.assertEqual(len(self.rx.auths), 1)
        self.assertTrue(self.rx.auths[0].startswith("AUTH PLAIN "))
        self.assertTrue(wait_for(lambda: self.f.queue_files() == []))
        self.assertEqual(self.rx.tls_errors, [])

    def test_relative_ca_file_counts_from_the_start_directory(self):
        # ferryd works inside its spool after start; a relative tls_ca_file
        # must still name the file it checked at start (it was opened
        # relative to the spool, failed, and every verify route deferred)
        self.start("good", ca_relative=True)
        send(self.f, ["x@remote.test"])
        self.assertTrue(self.rx.wait(1), self.f.log_text())
        self.assertEqual(len(self.rx.auths), 1)
        self.assertNotIn("tls-client-unavailable", self.f.log_text())

    def test_ip_literal_route_checks_the_address(self):
        self.start("ip", host="[127.0.0.2]")
        send(self.f, ["x@remote.test"])
        self.assertTrue(self.rx.wait(1), self.f.log_text())
        self.assertEqual(len(self.rx.auths), 1)

    def test_smtp_tls_verify_checks_the_mx_host_name(self):
        self.start("good", mx=True)
        send(self.f, ["x@remote.test"])
        self.assertTrue(self.rx.wait(1), self.f.log_text())
        self.assertEqual(self.rx.auths, [])

    def test_smtp_tls_verify_defers_an_mx_with_another_name(self):
        self.start("other", mx=True)
        send(self.f, ["x@remote.test"])
        self.assert_deferred_unverified("hostname mismatch")

    def test_explicit_unverified_route_sends_password_and_warns(self):
        self.start("self", route_opts="tls=require tls_verify=no auth=user:secret", ca=False)
        self.assertIn("tls_verify=no", self.f.log_text())
        self.assertIn("event=config-warning", self.f.log_text())
        send(self.f, ["x@remote.test"])
        self.assertTrue(self.rx.wait(1), self.f.log_text())
        self.assertEqual(len(self.rx.auths), 1)


if __name__ == "__main__":
    ferrytest.main()
