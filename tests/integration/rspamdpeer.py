"""rspamdpeer - a private rspamd (Debian's package) on loopback for tests
and benchmarks: its own configuration directory, only a proxy worker in
milter mode that scans itself (self_scan), no Redis, no network (DNS goes
to 127.0.0.1:9, which answers nothing), the milter_headers module so the
score comes back as headers. Lean on purpose: no rules files, so it starts
in about a second; GTUBE is built into rspamd's core and gives "reject".

    python3 rspamdpeer.py DIR PORT    # start, print the PID, leave it running
"""
import os
import signal
import socket
import subprocess
import sys
import time

CONF = """options {
  pidfile = "%(dir)s/rspamd.pid";
  dns { nameserver = ["127.0.0.1:9"]; timeout = 0.2s; retransmits = 1; }
  hs_cache_dir = "%(dir)s";
  local_addrs = [];
}
logging { type = "file"; filename = "%(dir)s/rspamd.log"; level = "notice"; }
modules { path = "/usr/share/rspamd/plugins/milter_headers.lua"; }
actions { reject = 15; add_header = 6; greylist = 4; }
milter_headers {
  use = ["x-spamd-result", "x-spam-status"];
  skip_local = false;
  skip_authenticated = false;
}
worker "rspamd_proxy" {
  bind_socket = "127.0.0.1:%(port)d";
  milter = yes;
  timeout = 60s;
  upstream "local" { default = yes; self_scan = yes; }
  count = %(count)d;
  spam_header = "X-Spam";
  reject_message = "Spam message rejected";
}
"""


class Rspamd:
    def __init__(self, directory, port, count=1):
        self.dir = directory
        self.port = port
        os.makedirs(directory, exist_ok=True)
        os.chmod(directory, 0o777)      # rspamd drops to nobody
        self.conf = os.path.join(directory, "rspamd.conf")
        with open(self.conf, "w") as f:
            f.write(CONF % {"dir": directory, "port": port, "count": count})
        self.proc = None

    def start(self, timeout=60):
        self.proc = subprocess.Popen(["rspamd", "-c", self.conf, "-f", "-u", "nobody", "-g", "nogroup"],
                                     stdout=open(os.path.join(self.dir, "stdout"), "ab"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("rspamd exited: see %s" % self.dir)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("rspamd did not listen on %d" % self.port)

    def stop(self):
        if self.proc is None:
            return
        # its own process group (start_new_session): the main process and its workers
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


if __name__ == "__main__":
    r = Rspamd(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 1).start()
    print(r.proc.pid)
