"""dnsserver - a real DNS server (unbound) on loopback for ferry's tests.

Serves static test zones from local-data on 127.0.0.1 at a random free
port, never queries anything upstream (every address is on the
do-not-query list), and has two special zones for failure paths:

  servfail.test.  any name under it answers SERVFAIL at once (a stub zone
                  whose only server, 127.0.0.1@9, unbound may not query)
  timeout.test.   any name under it gets no answer at all (a deny zone)

Every other name under test. that has no local-data is NXDOMAIN. Runs as
the current user in the foreground (no chroot, no remote control) and is
stopped by its PID. query() is a tiny raw DNS client so tests can check
what the server says before trusting a test built on it.
"""
import os
import random
import shutil
import socket
import struct
import subprocess
import tempfile
import time

import ferrytest
from ferrytest import read_text

UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"

# RFC 1035 rcodes and a few record types by name
NOERROR, SERVFAIL, NXDOMAIN, REFUSED = 0, 2, 3, 5
TYPES = {"A": 1, "MX": 15, "TXT": 16, "AAAA": 28, "SOA": 6}

CONF = """server:
    interface: 127.0.0.1@{port}
    port: {port}
    do-ip4: yes
    do-ip6: no
    do-udp: yes
    do-tcp: yes
    do-daemonize: no
    num-threads: 1
    interface-automatic: no
    access-control: 127.0.0.0/8 allow
    username: ""
    chroot: ""
    directory: "{dir}"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 1
    module-config: "iterator"
    do-not-query-localhost: yes
    do-not-query-address: 0.0.0.0/0
    do-not-query-address: ::/0
    local-zone: "test." static
    local-zone: "servfail.test." transparent
    local-zone: "timeout.test." deny
{records}
stub-zone:
    name: "servfail.test."
    stub-addr: 127.0.0.1@9
remote-control:
    control-enable: no
"""


def _free_port():
    """A port free for both UDP and TCP on 127.0.0.1 (below the ephemeral
    range, as ferrytest.free_port picks them)."""
    for _ in range(100):
        port = ferrytest.free_port()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            u.close()
    raise RuntimeError("no free port for the DNS server")


def query(port, name, qtype="A", timeout=2.0):
    """Ask 127.0.0.1:port once over UDP. Returns (rcode, answer count), or
    None when no answer came within timeout."""
    qid = random.randrange(65536)
    msg = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        msg += bytes([len(label)]) + label.encode()
    msg += b"\0" + struct.pack(">HH", TYPES[qtype], 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(msg, ("127.0.0.1", port))
        deadline = time.time() + timeout
        while time.time() < deadline:
            data = s.recv(4096)
            if len(data) >= 12 and struct.unpack(">H", data[:2])[0] == qid:
                flags, _, ancount = struct.unpack(">HHH", data[2:8])
                return flags & 0xF, ancount
    except (socket.timeout, ConnectionRefusedError):
        return None
    finally:
        s.close()
    return None


class DnsServer:
    """unbound serving records ("name. TTL IN TYPE DATA" strings) on
    127.0.0.1:port. Use as a context manager or call start()/stop()."""

    def __init__(self, records=(), tmp=None):
        self.tmp = tmp or tempfile.mkdtemp(prefix="ferrydns.")
        self.port = _free_port()
        self.conf = os.path.join(self.tmp, "unbound.conf")
        self.log = os.path.join(self.tmp, "unbound.log")
        lines = []
        for r in records:
            if "'" in r:
                raise ValueError("record with a single quote: %r" % r)
            lines.append("    local-data: '%s'" % r)
        with open(self.conf, "w") as f:
            f.write(CONF.format(port=self.port, dir=self.tmp, records="\n".join(lines)))
        self.proc = None

    @property
    def servers(self):
        """The value for ferry's dns_servers option."""
        return "127.0.0.1:%d" % self.port

    def start(self, timeout=10):
        if os.path.exists(UNBOUND + "-checkconf"):
            check = subprocess.run([UNBOUND + "-checkconf", self.conf], capture_output=True, text=True)
            if check.returncode != 0:
                raise RuntimeError("unbound config rejected: %s%s" % (check.stdout, check.stderr))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([UNBOUND, "-d", "-c", self.conf], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("unbound exited with %d: %s" % (self.proc.returncode, self.log_text()))
            if query(self.port, "test", "SOA", timeout=0.2) is not None:
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("unbound did not answer on port %d: %s" % (self.port, self.log_text()))

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log_text(self):
        return read_text(self.log)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
