"""ferryd starts as root and the run user owns the spool: a link the run
user puts there must never lead root to chown, chmod, truncate or write a
file elsewhere at the next start. Each test plants the link as root before
starting ferryd (the same effect as the run user planting it) and points
it at a victim file or directory the test made, root's own."""
import os
import signal
import smtplib
import stat
import subprocess
import time
import unittest

import ferrytest
from ferrytest import FERRYD, SKIP_PG, STATE_PG, tls_context, wait_for


def started(f, proc):
    """Wait until ferryd f (its process proc) has started (True: the log
    says event=started) or has exited (False)."""
    while proc.poll() is None:
        if "event=started " in f.log_text():
            return True
        time.sleep(0.05)
    return False


def traced(f, proc):
    """The pid of ferryd run by strace (proc): the child that has become
    ferryd (strace also forks short-lived children of its own to probe
    ptrace, and its child is strace until it execs)."""
    while proc.poll() is None:
        with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as fh:
            for pid in fh.read().split():
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as cmd:
                        if cmd.read().split(b"\0")[0] == FERRYD.encode():
                            return int(pid)
                except FileNotFoundError:
                    pass
        time.sleep(0.01)
    raise AssertionError("strace exited: " + f.stderr_text())


STRACE = ["strace", "-f", "-o", "/dev/null"]


def victim_file(f, name="victim", text="root's own\n", mode=0o600):
    path = os.path.join(f.tmp, name)
    with open(path, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)
    return path


class SpoolLinkTest(unittest.TestCase):
    def setUp(self):
        self.f = ferrytest.Ferryd()
        os.makedirs(self.f.spool)
        self.proc = self.pid = None       # pid: ferryd's when strace runs it
        self.addCleanup(self.stop)

    def launch(self, argv_prefix=()):
        with open(os.path.join(self.f.tmp, "stderr"), "ab") as err:
            self.proc = subprocess.Popen(list(argv_prefix) + [FERRYD, "-c", self.f.conf],
                                         stdout=subprocess.DEVNULL, stderr=err)
        return self.proc

    def stop(self, pid=None):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(pid or self.pid or self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:      # ferryd gone, strace still finishing
                pass
            self.proc.wait(60)

    def output(self):
        return self.f.stderr_text() + self.f.log_text()

    def assert_untouched(self, path, text="root's own\n", mode=0o600):
        st = os.stat(path)
        self.assertEqual((st.st_uid, st.st_gid), (0, 0), self.output())
        self.assertEqual(stat.S_IMODE(st.st_mode), mode, self.output())
        if text is not None:
            with open(path) as fh:
                self.assertEqual(fh.read(), text)

    def test_linked_spool_subdirectory_is_refused(self):
        victim = os.path.join(self.f.tmp, "victimdir")
        os.mkdir(victim, 0o700)
        os.symlink(victim, os.path.join(self.f.spool, "corrupt"))
        self.assertFalse(started(self.f, self.launch()), self.output())
        self.assertNotEqual(self.proc.returncode, 0)
        self.assertIn("spool %s/corrupt: not a directory (a link is refused)" % self.f.spool,
                      self.output())
        self.assert_untouched(victim, text=None, mode=0o700)

    def test_linked_tls_key_is_replaced_not_written_through(self):
        victim = victim_file(self.f)
        os.mkdir(os.path.join(self.f.spool, "tls"), 0o750)
        key = os.path.join(self.f.spool, "tls", "key.pem")
        os.symlink(victim, key)
        self.assertTrue(started(self.f, self.launch()), self.output())
        self.assert_untouched(victim)
        self.assertTrue(stat.S_ISREG(os.lstat(key).st_mode))
        self.assertEqual(stat.S_IMODE(os.lstat(key).st_mode), 0o600)
        with smtplib.SMTP("127.0.0.1", self.f.submission) as s:
            s.ehlo("client.test")
            self.assertEqual(s.starttls(context=tls_context())[0], 220)

    def test_linked_tls_directory_gets_no_key(self):
        victim = os.path.join(self.f.tmp, "victimdir")
        os.mkdir(victim, 0o700)
        os.symlink(victim, os.path.join(self.f.spool, "tls"))
        self.assertTrue(started(self.f, self.launch()), self.output())
        self.assertEqual(os.listdir(victim), [], self.output())
        self.assertIn("event=tls-unavailable", self.f.log_text())

    def test_linked_log_file_is_refused(self):
        victim = victim_file(self.f)
        os.symlink(victim, self.f.log)
        self.assertFalse(started(self.f, self.launch()), self.output())
        self.assertIn("log file %s is a symbolic link, refused" % self.f.log, self.output())
        self.assert_untouched(victim)

    @unittest.skipIf(STATE_PG, SKIP_PG + " (its -wal file)")
    def test_state_database_file_swapped_for_a_link_is_not_chowned(self):
        """Each chown returns 2 s late (strace); during the first one on the
        state database the test puts a link in place of its -wal file."""
        victim = victim_file(self.f, text="")
        wal = os.path.join(self.f.spool, "ferry.db-wal")
        proc = self.launch(STRACE + ["-e", "trace=chown,lchown,fchownat",
                                     "-e", "inject=chown,lchown,fchownat:delay_enter=2000000"])
        pid = self.pid = traced(self.f, proc)
        # 92 chown, 94 lchown, 260 fchownat (x86-64): waiting in one of them
        while proc.poll() is None:
            with open("/proc/%d/syscall" % pid) as fh:
                nr = fh.read().split()[0]
            if os.path.exists(wal) and nr in ("92", "94", "260"):
                break
            time.sleep(0.01)
        self.assertIsNone(proc.poll(), self.output())
        os.rename(wal, wal + ".moved")
        os.symlink(victim, wal)
        if started(self.f, proc):
            self.stop(pid)
        proc.wait(60)
        self.assert_untouched(victim, text=None)

    def test_submit_socket_swapped_for_a_link_keeps_the_target_mode(self):
        """Each bind returns 2 s late (strace); meanwhile the test moves the
        new socket away and puts a link in its place, as the run user could."""
        victim = victim_file(self.f)
        sock = os.path.join(self.f.spool, "submit.sock")
        proc = self.launch(STRACE + ["-e", "trace=bind", "-e", "inject=bind:delay_exit=2000000"])
        pid = self.pid = traced(self.f, proc)
        while proc.poll() is None:
            try:
                if stat.S_ISSOCK(os.lstat(sock).st_mode):
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.01)
        os.rename(sock, sock + ".moved")
        os.symlink(victim, sock)
        if started(self.f, proc):
            self.stop(pid)
        proc.wait(60)
        self.assert_untouched(victim)
        self.assertIn("listen local submit.sock: replaced by a link while binding, refused",
                      self.output())

    def test_pid_file_removed_still_one_instance(self):
        first = self.launch()
        self.assertTrue(started(self.f, first), self.output())
        os.unlink(os.path.join(self.f.spool, "ferryd.pid"))
        second = subprocess.run([FERRYD, "-c", self.f.conf], capture_output=True, text=True,
                                timeout=30)
        self.assertNotEqual(second.returncode, 0)
        self.assertEqual(second.stderr, "ferryd: already running (pid ?) on %s\n" % self.f.spool)

    def test_hard_linked_pid_file_is_replaced(self):
        victim = victim_file(self.f)
        os.link(victim, os.path.join(self.f.spool, "ferryd.pid"))
        self.assertTrue(started(self.f, self.launch()), self.output())
        self.assert_untouched(victim)
        with open(os.path.join(self.f.spool, "ferryd.pid")) as fh:
            self.assertEqual(fh.read(), "%d\n" % self.proc.pid)


if __name__ == "__main__":
    ferrytest.main()
