"""ferryd and systemd's Type=notify: with NOTIFY_SOCKET set, ferryd sends
READY=1 (with STATUS=) once it listens and delivers, RELOADING=1 then
READY=1 around a SIGHUP reload, and STOPPING=1 at SIGTERM. The test plays
the service manager: it binds the Unix datagram socket itself, as systemd
does, and reads what arrives. ferryd sends after dropping root, so the
socket is writable by the run user, as /run/systemd/notify is."""
import os
import socket
import tempfile
import unittest

import ferrytest
from ferrytest import Ferryd, RawClient


class NotifyTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ferrynotify.")
        os.chmod(self.dir, 0o755)
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o777)
        self.sock.settimeout(30)
        self.f = Ferryd()
        # Run from a systemd unit, ctest may have one of its own.
        self.saved = os.environ.pop("NOTIFY_SOCKET", None)

    def tearDown(self):
        if self.saved is not None:
            os.environ["NOTIFY_SOCKET"] = self.saved
        self.f.stop()
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)

    def next_state(self):
        """The next datagram as a dict of its KEY=VALUE lines."""
        data = self.sock.recv(4096).decode()
        return dict(line.split("=", 1) for line in data.split("\n") if line)

    def start_notified(self):
        os.environ["NOTIFY_SOCKET"] = self.path
        try:
            self.f.start()
        finally:
            del os.environ["NOTIFY_SOCKET"]

    def test_ready_reloading_stopping(self):
        self.start_notified()
        st = self.next_state()
        self.assertEqual(st.get("READY"), "1", st)
        self.assertEqual(st.get("STATUS"), "accepting mail, 0 queued at start", st)
        # READY=1 comes after listening: a session is served at once.
        c = RawClient(self.f.mx)
        self.assertEqual(c.reply()[0], 220)
        c.close()

        self.f.hup()
        st = self.next_state()
        self.assertEqual(st.get("RELOADING"), "1", st)
        self.assertTrue(st.get("MONOTONIC_USEC", "").isdigit(), st)
        st = self.next_state()
        self.assertEqual(st.get("READY"), "1", st)
        self.assertEqual(st.get("STATUS"), "accepting mail (configuration reloaded)", st)
        self.assertTrue(ferrytest.wait_for(lambda: "event=reloaded" in self.f.log_text()))

        self.f.proc.send_signal(15)
        st = self.next_state()
        self.assertEqual(st.get("STOPPING"), "1", st)
        self.assertEqual(self.f.stop(), 0)
        self.assertNotIn("event=notify-failed", self.f.log_text())

    def test_without_notify_socket_nothing_is_sent(self):
        self.f.start()
        self.f.hup()
        self.assertTrue(ferrytest.wait_for(lambda: "event=reloaded" in self.f.log_text()))
        self.assertEqual(self.f.stop(), 0)
        self.sock.setblocking(False)
        with self.assertRaises(BlockingIOError):
            self.sock.recv(4096)


if __name__ == "__main__":
    ferrytest.main()
