"""dkimkeys - DKIM key pairs and their DNS records for ferry's tests: a PEM
private key made by openssl (mode 0600, as ferry demands) and the key
record to publish (RFC 6376 3.6.1: p= is the DER SubjectPublicKeyInfo for
RSA; RFC 8463: the raw 32-octet key for Ed25519), and TXT lines for
dnsserver.DnsServer."""
import base64
import os
import subprocess

import dns.exception
import dns.resolver


def make_key(tmp, name, algo):
    """(path, record bytes) for algo "RSA" (2048 bits) or "ED25519"."""
    path = os.path.join(tmp, name)
    args = ["openssl", "genpkey", "-algorithm", algo, "-out", path]
    if algo == "RSA":
        args += ["-pkeyopt", "rsa_keygen_bits:2048"]
    subprocess.run(args, check=True, capture_output=True)
    os.chmod(path, 0o600)
    der = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    if algo == "ED25519":
        record = b"v=DKIM1; k=ed25519; p=" + base64.b64encode(der[-32:])
    else:
        record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)
    return path, record


def txt_record(name, value):
    """A TXT local-data line (value str or bytes); strings longer than 255
    octets are split (RFC 1035 3.3.14)."""
    if isinstance(value, bytes):
        value = value.decode()
    chunks = [value[i:i + 255] for i in range(0, len(value), 255)]
    return "%s 300 IN TXT %s" % (name, " ".join('"%s"' % c for c in chunks))


def dns_txt_func(port):
    """python3-dkim's key lookup (dnsfunc=), asked of the test zone's
    server on 127.0.0.1:port: the TXT strings joined, b"" when none."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port

    def dnsfunc(name, timeout=5):
        try:
            answer = resolver.resolve(name.decode(), "TXT", lifetime=timeout)
        except dns.exception.DNSException:
            return b""
        return b"".join(b"".join(r.strings) for r in answer)
    return dnsfunc
