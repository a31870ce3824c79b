#!/usr/bin/python3
"""pgserver.py - throwaway PostgreSQL 15 and redis-server instances for tests
and benchmarks: each in its own temporary directory, on 127.0.0.1 and a
free port, stopped (and the directory removed) when done.

PostgreSQL refuses to run as root, and the tests run as root in CI: then
initdb and postgres run as an unprivileged user (nobody, or
$FERRY_TEST_PG_USER) owning the directory, which is made under
/tmp so that user can reach it. fsync is off (a test's data need not
survive a power loss); loopback connections are trusted (no password).

From Python:
    pg = PgServer().start()       # pg.conninfo: postgresql://postgres@127.0.0.1:PORT/ferry
    pg.stop(keep=True); pg.start()   # a restart on the same port and data
    pg.close()                    # stop and remove
    r = start_redis()             # r.url: redis://127.0.0.1:PORT; r.close()

From a shell (tests/pgserver.sh wraps this file):
    pgserver.py run [--redis] -- CMD ARGS...   # CMD runs with FERRY_TEST_PG (the
        conninfo), FERRY_TEST_PG_DIR, FERRY_TEST_PG_STOP / FERRY_TEST_PG_START (shell
        commands stopping and starting the same server) [and FERRY_TEST_REDIS] set;
        its exit status is returned; the servers stop whatever happens to CMD
    pgserver.py start [--redis]   # prints the same as shell assignments, leaves it up
    pgserver.py stop DIR          # stops it and removes DIR
"""
import atexit
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PG_BIN = os.environ.get("FERRY_PG_BIN", "/usr/lib/postgresql/15/bin")
PG_USERS = (os.environ.get("FERRY_TEST_PG_USER", "nobody"),)
START_TIMEOUT = 60.0


def free_port():
    """A TCP port free on 127.0.0.1 now (the caller binds it soon after)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_user():
    """The user to run a server as: None when not root."""
    if os.geteuid() != 0:
        return None
    for name in PG_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and no user %s to run PostgreSQL as" % " or ".join(PG_USERS))


def _as_user(user, argv):
    return argv if user is None else ["runuser", "-u", user.pw_name, "--"] + argv


def _wait_port(port, deadline, proc=None):
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class PgServer:
    """One PostgreSQL cluster in a temporary directory (or DIR to re-use)."""

    def __init__(self, dir=None, port=None):
        self.user = _run_user()
        self.dir = dir
        self.port = port
        self.started = False

    @property
    def data(self):
        return os.path.join(self.dir, "data")

    @property
    def conninfo(self):
        return "postgresql://postgres@127.0.0.1:%d/ferry" % self.port

    def _cmd(self, argv, **kw):
        return subprocess.run(_as_user(self.user, argv), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, **kw)

    def _create(self):
        self.dir = tempfile.mkdtemp(prefix="ferry-pg-", dir="/tmp" if self.user else None)
        if self.user is not None:
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        os.chmod(self.dir, 0o700)
        r = self._cmd([PG_BIN + "/initdb", "-D", self.data, "-U", "postgres", "-A", "trust",
                       "-E", "UTF8", "--locale=C", "--no-sync"])
        if r.returncode != 0:
            raise RuntimeError("initdb failed:\n" + r.stdout)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n# tests only: throwaway data\nfsync = off\nsynchronous_commit = off\n"
                    "full_page_writes = off\nlisten_addresses = '127.0.0.1'\n"
                    "unix_socket_directories = '%s'\nmax_connections = 200\n" % self.dir)

    def start(self):
        """Start it (making the cluster and the database ferry the first time)."""
        first = self.dir is None
        if first:
            self._create()
        if self.port is None:
            port_file = os.path.join(self.dir, "port")
            self.port = int(open(port_file).read()) if os.path.exists(port_file) else free_port()
        with open(os.path.join(self.dir, "port"), "w") as f:
            f.write(str(self.port))
        r = self._cmd([PG_BIN + "/pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"),
                       "-o", "-p %d" % self.port, "-w", "-t", str(int(START_TIMEOUT)), "start"])
        if r.returncode != 0:
            raise RuntimeError("pg_ctl start failed:\n" + r.stdout + self.log_tail())
        self.started = True
        if first:
            r = self._cmd([PG_BIN + "/createdb", "-h", "127.0.0.1", "-p", str(self.port),
                           "-U", "postgres", "ferry"])
            if r.returncode != 0:
                raise RuntimeError("createdb failed:\n" + r.stdout)
        return self

    def log_tail(self, n=30):
        try:
            with open(os.path.join(self.dir, "log")) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self, keep=False, mode="fast"):
        """Stop the server; keep=True leaves the directory for a start()."""
        if self.dir is None:
            return
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._cmd([PG_BIN + "/pg_ctl", "-D", self.data, "-m", mode, "-w", "stop"])
        self.started = False
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    close = stop

    def psql(self, sql):
        """Run sql with psql; its output (raises on an error)."""
        r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql,
                            self.conninfo], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        if r.returncode != 0:
            raise RuntimeError("psql: " + r.stdout)
        return r.stdout


class RedisServer:
    """A redis-server on 127.0.0.1, no persistence, in its own directory."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.dir = None
        self.proc = None

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def start(self):
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="ferry-redis-")
        self.log = open(os.path.join(self.dir, "log"), "a")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--daemonize", "no"],
            stdout=self.log, stderr=subprocess.STDOUT)
        if not _wait_port(self.port, time.monotonic() + START_TIMEOUT, self.proc):
            self.stop()
            raise RuntimeError("redis-server did not start on port %d" % self.port)
        return self

    def stop(self, keep=False):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            self.log.close()
        if not keep and self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    close = stop


def start_redis(port=None):
    """A started RedisServer (close() stops it)."""
    return RedisServer(port).start()


def _shell_env(pg, redis):
    me = "/usr/bin/python3 %s" % os.path.abspath(__file__)
    env = {"FERRY_TEST_PG": pg.conninfo, "FERRY_TEST_PG_DIR": pg.dir,
           "FERRY_TEST_PG_STOP": "%s pg-stop %s" % (me, pg.dir),
           "FERRY_TEST_PG_START": "%s pg-start %s" % (me, pg.dir)}
    if redis is not None:
        env["FERRY_TEST_REDIS"] = redis.url
    return env


def _main(argv):
    if len(argv) >= 2 and argv[0] in ("pg-stop", "pg-start", "stop"):
        pg = PgServer(dir=argv[1])
        pid_file = os.path.join(argv[1], "redis.pid")
        if argv[0] == "stop" and os.path.exists(pid_file):
            try:
                os.kill(int(open(pid_file).read()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        if argv[0] == "pg-start":
            pg.start()
        else:
            pg.stop(keep=argv[0] == "pg-stop")
        return 0
    if not argv or argv[0] not in ("run", "start"):
        sys.stderr.write(__doc__)
        return 2
    want_redis = "--redis" in argv[1:argv.index("--") if "--" in argv else len(argv)]
    pg, redis = PgServer(), None
    if argv[0] == "start":
        pg.start()
        if want_redis:
            # left running; `stop DIR` stops it by the pid kept in DIR
            redis = RedisServer()
            redis.dir = os.path.join(pg.dir, "redis")
            os.mkdir(redis.dir)
            redis.start()
            with open(os.path.join(pg.dir, "redis.pid"), "w") as f:
                f.write(str(redis.proc.pid))
        for k, v in _shell_env(pg, redis).items():
            print("%s='%s'; export %s" % (k, v, k))
        return 0
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        sys.stderr.write("usage: pgserver.py run [--redis] -- CMD [ARGS...]\n")
        return 2
    cmd = argv[argv.index("--") + 1:]

    def cleanup():
        pg.stop()
        if redis is not None:
            redis.stop()

    atexit.register(cleanup)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, f: sys.exit(128 + s))
    pg.start()
    if want_redis:
        redis = start_redis()
    env = dict(os.environ, **_shell_env(pg, redis))
    return subprocess.call(cmd, env=env)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
