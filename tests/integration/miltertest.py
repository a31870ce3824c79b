"""miltertest - a scripted milter (sendmail milter protocol v6) for tests.

A real socket server on loopback, written from the protocol description
(libmilter's mfdef.h): it negotiates, records every command it receives
(macros, envelope, headers, body) and answers at the end of the message
with the verdict its `mode` names. Threads, no milter library.

Modes: continue, accept, reject, tempfail, discard, replycode (the text in
`replycode`), quarantine, addheader, insheader, chgheader, delheader, die
(closes the connection in the middle of the body), hang (never answers the
body: the client's timeout must fire), garbage (a malformed reply), slow
(waits `delay` seconds at the end of the message, then continues).
"""
import os
import socket
import struct
import threading

# protocol bits (mfdef.h)
NR_HDR = 0x80
NOHELO = 0x2
ACT_ADDHDRS, ACT_CHGHDRS, ACT_QUARANTINE = 0x1, 0x10, 0x20


def packet(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data


def cstr(*parts):
    return b"".join(p.encode() + b"\0" for p in parts)


class Milter:
    def __init__(self, mode="continue", host="127.0.0.1", protocol=0, path=None):
        """path: listen on that Unix socket (ferryd, as its run user, may
        connect) instead of a TCP port on host."""
        self.mode = mode
        self.protocol = protocol          # the steps it declines / answers without a reply
        self.replycode = "554 5.7.1 Go away"
        self.delay = 0
        self.sessions = []                # one dict per connection
        self.lock = threading.Lock()
        if path is not None:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.bind(path)
            os.chmod(path, 0o777)
            self.port = None
        else:
            self.sock = socket.socket()
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, 0))
            self.port = self.sock.getsockname()[1]
        self.sock.listen(32)
        self.running = True
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self.running = False
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass

    def _accept(self):
        while self.running:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _read(c, n):
        buf = b""
        while len(buf) < n:
            d = c.recv(n - len(buf))
            if not d:
                raise EOFError
            buf += d
        return buf

    def _end_of_message(self, c):
        m = self.mode
        if m == "slow":
            threading.Event().wait(self.delay)
        if m == "addheader":
            c.sendall(packet(b"h", cstr("X-Test-Added", "yes it was")))
        elif m == "insheader":
            c.sendall(packet(b"i", struct.pack(">I", 0) + cstr("X-Test-First", "top")))
        elif m == "chgheader":
            c.sendall(packet(b"m", struct.pack(">I", 1) + cstr("Subject", "changed by milter")))
        elif m == "delheader":
            c.sendall(packet(b"m", struct.pack(">I", 1) + cstr("X-Remove-Me", "")))
        elif m == "quarantine":
            c.sendall(packet(b"q", cstr("looks odd")))
        elif m == "garbage":
            c.sendall(packet(b"h", b"no-nul-here"))
            return
        final = {"reject": b"r", "tempfail": b"t", "discard": b"d", "accept": b"a"}.get(m, b"c")
        if m == "replycode":
            c.sendall(packet(b"y", cstr(self.replycode)))
        else:
            c.sendall(packet(final))

    def _serve(self, c):
        s = {"macros": {}, "headers": [], "body": b"", "rcpts": [], "commands": ""}
        with self.lock:
            self.sessions.append(s)
        try:
            while True:
                (n,) = struct.unpack(">I", self._read(c, 4))
                data = self._read(c, n)
                cmd, body = data[:1], data[1:]
                s["commands"] += cmd.decode()
                if not self._take(c, s, cmd, body):
                    break
        except (EOFError, OSError):
            pass
        finally:
            s["closed"] = True
            try:
                c.close()
            except OSError:
                pass

    def _take(self, c, s, cmd, body):
        if cmd == b"O":
            c.sendall(packet(b"O", struct.pack(">III", 6, ACT_ADDHDRS | ACT_CHGHDRS | ACT_QUARANTINE,
                                                 self.protocol)))
        elif cmd == b"D":
            parts = body[1:].split(b"\0")
            for k, v in zip(parts[0::2], parts[1::2]):
                s["macros"][k.decode()] = v.decode()
        elif cmd == b"L":
            name, value = body.split(b"\0")[:2]
            s["headers"].append((name.decode(), value.decode()))
            if not self.protocol & NR_HDR:
                c.sendall(packet(b"c"))
        elif cmd == b"B":
            s["body"] += body
            if self.mode == "die":
                return False
            if self.mode == "hang":
                threading.Event().wait(60)
                return False
            c.sendall(packet(b"c"))
        elif cmd == b"E":
            self._end_of_message(c)
        elif cmd in (b"Q", b"K"):
            return False
        elif cmd == b"A":
            pass
        else:
            if cmd == b"M":
                s["sender"] = body.split(b"\0")[0].decode()
            elif cmd == b"R":
                s["rcpts"].append(body.split(b"\0")[0].decode())
            elif cmd == b"H":
                s["helo"] = body.split(b"\0")[0].decode()
            elif cmd == b"C":
                s["connect"] = body
            c.sendall(packet(b"c"))
        return True
