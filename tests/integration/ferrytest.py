"""ferrytest - shared harness for ferry's integration tests.

Starts a real ferryd on loopback with a configuration written into a fresh
temporary directory, talks to it with real clients (smtplib, raw sockets,
swaks, smtp-source) and reads its spool files back. Nothing here mocks
ferryd; every test drives the daemon over the wire.

With FERRY_TEST_STATE_PG=1 (and FERRY_TEST_PG, FERRY_TEST_REDIS from
tests/pgserver.sh run --redis) each Ferryd keeps its state in a fresh
PostgreSQL database of its own and its counters in Redis: the same tests
then check that both backends behave alike. Tests that are about the
SQLite file itself skip there (SKIP_PG).
"""
import base64
import glob
import hashlib
import hmac
import os
import random
import signal
import smtplib
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

BIN = os.environ.get("FERRY_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "test")
SRC = os.environ.get("FERRY_SRC") or os.path.join(os.path.dirname(__file__), "..", "..")
FERRYD = os.path.join(BIN, "ferryd")
FERRYCTL = os.path.join(BIN, "ferryctl")

# State on PostgreSQL, counters on Redis (see the module's docstring).
STATE_PG = os.environ.get("FERRY_TEST_STATE_PG") == "1"
SKIP_PG = "the state is on PostgreSQL (FERRY_TEST_STATE_PG=1): this checks the SQLite file"
_PG_HARNESS = "FERRY_TEST_STATE_PG=1 needs %s: run under tests/pgserver.sh run --redis --"


_PORTS_TAKEN = set()


def _ephemeral_low():
    """The low end of the kernel's ephemeral port range (outbound sockets)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return low if low > 12000 else 60000


def free_port():
    """A TCP port free on loopback now, for a listener started later. It
    comes from below the ephemeral range: a port in it can be taken between
    this check and the listener's bind by one of the thousands of outbound
    connections a test makes (ferryd's delivery, smtp-source), and then a
    client meant for the listener talks to someone else."""
    low = _ephemeral_low()
    for _ in range(500):
        port = random.randint(10000, low - 1)
        if port in _PORTS_TAKEN:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        _PORTS_TAKEN.add(port)
        return port
    raise RuntimeError("no free port below %d" % low)


def wait_port(port, timeout=10.0, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("ferryd exited early with %d" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d did not open" % port)


def read_text(path):
    """A log file's text so far ("" before the daemon has written one)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def wait_for(pred, timeout=30):
    """Poll pred until it holds (True) or timeout seconds pass (False)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def maildir_messages(f, addr):
    """The messages delivered to addr's Maildir under ferryd f's spool."""
    local, domain = addr.split("@")
    return sorted(glob.glob(os.path.join(f.spool, "mail", domain, local, "new", "*")))


# Spool record types (src/spool/spool_rec.h has the table with each meaning).
REC_RCPT, REC_DONE = "R", ("D", "F")       # pending; delivered or failed
REC_NOTIFY, REC_ORCPT, REC_CONTENT, REC_END = "N", "O", "M", "X"


def read_spool_file(path):
    """Parse a ferry spool file (format in src/spool/spool_rec.h) into a dict:
    "rcpts" the pending recipients, "done" {recipient: "D" or "F"}, "notify"
    and "orcpt" by recipient, "content", and every other record by its type."""
    with open(path, "rb") as f:
        data = f.read()
    assert data.startswith(b"FERRY1\n"), "bad magic in %s" % path
    off = 7
    env = {"rcpts": [], "done": {}, "notify": {}, "orcpt": {}}
    last = None
    ended = False
    while off + 5 <= len(data):
        typ = chr(data[off])
        (ln,) = struct.unpack(">I", data[off + 1:off + 5])
        val = data[off + 5:off + 5 + ln]
        off += 5 + ln
        if typ == REC_END:
            ended = True
            break
        if typ == REC_RCPT or typ in REC_DONE:
            last = val.decode("utf-8", "replace")
            if typ == REC_RCPT:
                env["rcpts"].append(last)
            else:
                env["done"][last] = typ
        elif typ == REC_NOTIFY:
            env["notify"][last] = int(val)
        elif typ == REC_ORCPT:
            env["orcpt"][last] = val.decode()
        elif typ == REC_CONTENT:
            env["content"] = val
        else:
            env[typ] = val.decode("utf-8", "replace")
    assert ended and off == len(data), "spool file %s is incomplete" % path
    return env


def verp_local(secret, tenant_id, queue_id, index, rcpt=None):
    """The return-path local part as src/state/verp.c makes it (verp.h),
    bound to the recipient address rcpt when given."""
    qid = queue_id.lower()
    mac = hmac.new(secret, ("%d-%s-%d" % (tenant_id, qid, index)).encode(), hashlib.sha256).digest()
    token = "b+%d-%s-%d-%s" % (tenant_id, qid, index, base64.b32encode(mac[:10]).decode().lower())
    if rcpt is not None:
        rmac = hmac.new(secret, ("rcpt:%d-%s-%d:%s" % (tenant_id, qid, index, rcpt.lower())).encode(),
                        hashlib.sha256).digest()
        token += "-" + base64.b32encode(rmac[:5]).decode().lower()[:6]
    return token


def _pg_params(query):
    """query with sqlite3's ? placeholders as psycopg2's %s (and a literal %
    doubled); a ? inside a quoted string stays as it is."""
    out, quote = [], None
    for c in query:
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "?":
            c = "%s"
        if c == "%":
            c = "%%"
        out.append(c)
    return "".join(out)


def pg_sql(conninfo, query, args=(), autocommit=False):
    """One statement on PostgreSQL (committed), written for sqlite3 (?
    placeholders); its rows ([] for a statement that returns none)."""
    import psycopg2
    con = psycopg2.connect(conninfo)
    try:
        con.autocommit = autocommit
        with con.cursor() as cur:
            cur.execute(_pg_params(query), tuple(args))
            rows = cur.fetchall() if cur.description is not None else []
        if not autocommit:
            con.commit()
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in rows]
    finally:
        con.close()


_PG_DATABASES = []


def _pg_databases_drop():
    for conninfo, name in _PG_DATABASES:
        try:
            pg_sql(conninfo, 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name, autocommit=True)
        except Exception as e:      # the server may be gone already: it is throwaway
            sys.stderr.write("ferrytest: could not drop database %s: %s\n" % (name, e))


def pg_database_create():
    """A new, empty database on the harness's PostgreSQL (FERRY_TEST_PG),
    dropped when the test program exits; its conninfo."""
    import atexit
    base = os.environ.get("FERRY_TEST_PG")
    if not base:
        raise RuntimeError(_PG_HARNESS % "FERRY_TEST_PG")
    name = "ferry_" + os.urandom(6).hex()
    pg_sql(base, 'CREATE DATABASE "%s"' % name, autocommit=True)
    if not _PG_DATABASES:
        atexit.register(_pg_databases_drop)
    _PG_DATABASES.append((base, name))
    return urllib.parse.urlunsplit(urllib.parse.urlsplit(base)._replace(path="/" + name))


_REDIS_DBS = [0]


def redis_database_take():
    """The URL of a Redis database (of the 16 of FERRY_TEST_REDIS's server)
    for one Ferryd, emptied first: counters are keyed by tenant id, which
    every fresh state database starts again from 1, so two Ferryds of one
    test program must not count in the same database. They are handed out
    in turn; 16 Ferryds alive at once would be needed for a clash."""
    base = os.environ.get("FERRY_TEST_REDIS")
    if not base:
        raise RuntimeError(_PG_HARNESS % "FERRY_TEST_REDIS")
    n = _REDIS_DBS[0] % 16
    _REDIS_DBS[0] += 1
    u = urllib.parse.urlsplit(base)
    with socket.create_connection((u.hostname, u.port or 6379), timeout=10) as s:
        s.sendall(b"*2\r\n$6\r\nSELECT\r\n$%d\r\n%d\r\n*1\r\n$7\r\nFLUSHDB\r\n" % (len(str(n)), n))
        got = b""
        while got.count(b"\r\n") < 2:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    if got != b"+OK\r\n+OK\r\n":
        raise RuntimeError("redis SELECT %d / FLUSHDB answered %r" % (n, got))
    return urllib.parse.urlunsplit(u._replace(path="/%d" % n))


class Ferryd:
    """A ferryd instance in its own temporary directory."""

    def __init__(self, extra="", domains=("example.test",), mailboxes=("alice@example.test",),
                 relay_networks=None, listeners=("mx", "submission", "submissions"), tmp=None,
                 deliver=False, dns="127.0.0.1:9", http=False):
        self.tmp = tmp or tempfile.mkdtemp(prefix="ferrytest.")
        # The daemon drops root; it must be able to reach files by path on reload.
        os.chmod(self.tmp, 0o755)
        self.spool = os.path.join(self.tmp, "spool")
        self.log = os.path.join(self.tmp, "ferryd.log")
        self.conf = os.path.join(self.tmp, "ferry.conf")
        self.users = os.path.join(self.tmp, "users")
        self.ports = {}
        lines = ["hostname mx.ferry.test", "spool_dir " + self.spool, "log_file " + self.log,
                 "users_file " + self.users, "workers 2"]
        for role in listeners:
            self.ports[role] = free_port()
            lines.append("listen %s 127.0.0.1:%d" % (role, self.ports[role]))
        # http=True: the HTTP API on a port of its own (not in self.ports,
        # whose probes wait_idle counts as SMTP sessions); see api().
        self.http_port = free_port() if http else None
        if http:
            lines.append("listen http 127.0.0.1:%d" % self.http_port)
            if "http_www_dir" not in extra:
                lines.append("http_www_dir " + os.path.join(SRC, "dist", "www"))
        for d in domains:
            lines.append("domain " + d)
        for m in mailboxes:
            lines.append("mailbox " + m)
        if relay_networks:
            lines.append("relay_networks " + relay_networks)
        # Never let a test query the machine's resolver: DNS goes to loopback
        # (port 9 answers nothing) unless a test brings its own server.
        if "dns_servers" not in extra:
            lines.append("dns_servers " + dns)
        # Tests of the receiving side read the spool: keep mail there.
        if not deliver:
            lines.append("delivery off")
        # a test that names its own state database (test_cluster) keeps it
        self.pg = None
        if STATE_PG and "state_db" not in extra:
            lines += self._pg_lines()
        lines.append(extra)
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None

    def _pg_lines(self):
        """The state_db, counters and node_name lines of a Ferryd on
        PostgreSQL and Redis: new ones, or the ones a Ferryd before used in
        the same directory (a restart on the same spool keeps its state)."""
        saved = os.path.join(self.tmp, "ferrytest-pg")
        if os.path.exists(saved):
            with open(saved) as f:
                self.pg, counters = f.read().split()
        else:
            self.pg, counters = pg_database_create(), redis_database_take()
            with open(saved, "w") as f:
                f.write("%s %s\n" % (self.pg, counters))
        return ["state_db " + self.pg, "counters " + counters,
                "node_name node-" + self.pg.rsplit("_", 1)[-1]]

    @property
    def mx(self):
        return self.ports["mx"]

    @property
    def submission(self):
        return self.ports["submission"]

    @property
    def submissions(self):
        return self.ports["submissions"]

    def start(self, cwd=None):
        """cwd: the directory ferryd starts from (relative paths in the
        configuration count from it); None: the test's own."""
        self.log_offset = len(self.log_text())
        self.proc = subprocess.Popen([FERRYD, "-c", self.conf], stdout=subprocess.DEVNULL, cwd=cwd,
                                     stderr=open(os.path.join(self.tmp, "stderr"), "ab"))
        for p in self.ports.values():
            wait_port(p, proc=self.proc)
        if self.http_port:
            wait_port(self.http_port, proc=self.proc)
        self.wait_idle()
        return self

    def wait_idle(self, timeout=10):
        """Wait until every session the log shows opening has closed (the
        port probes of start() count against connection limits until then)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            log = self.log_text()[self.log_offset:]
            # text lines, or JSON ones (log_format json)
            connect = log.count("event=connect ") + log.count('"event":"connect"')
            seen = connect + log.count("event=connect-refused ") + \
                log.count('"event":"connect-refused"')
            if seen >= len(self.ports) and \
                    connect == log.count("event=disconnect ") + log.count('"event":"disconnect"'):
                return
            time.sleep(0.02)
        raise RuntimeError("sessions still open after %ss" % timeout)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        return rc

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    def user_add(self, name, password):
        subprocess.run([FERRYCTL, "-c", self.conf, "user", "add", "--password-stdin", name],
                       input=(password + "\n").encode(), check=True,
                       stdout=subprocess.DEVNULL)

    def ctl(self, *args, input=None, check=True):
        """Run `ferryctl -c CONF ARGS...`; returns the CompletedProcess
        (text stdout/stderr). check: raise when it exits non-zero."""
        r = subprocess.run([FERRYCTL, "-c", self.conf] + list(args), input=input,
                           capture_output=True, text=True)
        if check and r.returncode != 0:
            raise AssertionError("ferryctl %s: exit %d: %s%s" % (" ".join(args), r.returncode,
                                                                 r.stdout, r.stderr))
        return r

    def tenant_add(self, name, *opts):
        """A tenant with its domain NAME.test (ferryctl tenant add NAME
        OPTS..., domain add); returns a new API key of it."""
        self.ctl("tenant", "add", name, *opts)
        self.ctl("domain", "add", name, name + ".test")
        return self.ctl("key", "create", name).stdout.splitlines()[0].strip()

    def submit(self, login, key, sender, rcpts, body=None):
        """One message to each of rcpts over one authenticated submission
        session (STARTTLS, AUTH as login with key)."""
        with smtplib.SMTP("127.0.0.1", self.submission, timeout=60) as s:
            s.starttls(context=tls_context())
            s.login(login, key)
            for i, r in enumerate(rcpts):
                s.sendmail(sender, [r], body or ("From: %s\r\nSubject: %d\r\n\r\nhi\r\n"
                                                 % (sender, i)).encode())

    def queue_files(self):
        q = os.path.join(self.spool, "queue")
        return sorted(os.path.join(q, n) for n in os.listdir(q))

    def queued(self):
        return [read_spool_file(p) for p in self.queue_files()]

    def log_text(self):
        return read_text(self.log)

    def stderr_text(self):
        with open(os.path.join(self.tmp, "stderr"), encoding="utf-8", errors="replace") as f:
            return f.read()

    def sql(self, query, args=()):
        """One statement on the state database (committed), with sqlite3's ?
        placeholders; its rows. Write SQL both engines take (TRUE, not 1)."""
        if self.pg is not None:
            return pg_sql(self.pg, query, args)
        import sqlite3
        con = sqlite3.connect(os.path.join(self.spool, "ferry.db"), timeout=10)
        try:
            with con:
                return con.execute(query, args).fetchall()
        finally:
            con.close()

    def admin_token(self):
        """The HTTP API's admin token, as `ferryctl admin-token` prints it."""
        return self.ctl("admin-token").stdout.strip()

    def api(self, method, path, body=None, token=None, headers=None, port=None, tls=False):
        """One HTTP request to the API (http=True): body a dict/list is sent
        as JSON, bytes as they are. Returns (status, headers, value): value
        the parsed JSON when the reply is JSON, else the bytes."""
        import http.client
        import json
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        port = port or self.http_port
        if tls:
            conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=tls_context())
        else:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
        finally:
            conn.close()
        if data and hdrs.get("content-type", "").startswith("application/json"):
            return r.status, hdrs, json.loads(data)
        return r.status, hdrs, data


class RawClient:
    """A byte-exact SMTP client for framing tests: sends exactly what it is
    given, reads replies (multi-line aware)."""

    def __init__(self, port, host="127.0.0.1", timeout=10, tls=False):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if tls:
            self.starttls_wrap()
        self.buf = b""

    def starttls_wrap(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed; buffered %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        """One reply: (code, [lines])."""
        lines = []
        while True:
            line = self._line()
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), lines

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def closed(self, timeout=5):
        """True if the server closed the connection (EOF) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def main():
    unittest.main(verbosity=2)
