#!/usr/bin/python3
"""Self-test for smtp_server.py.  Run: /usr/bin/python3 smtp_server_selftest.py -v

Talks to the real aiosmtpd-based CaptureServer with smtplib and raw sockets.
(Not named test_*.py: it tests the test server, not letterd.  ctest runs it
as integration.smtp_server_selftest.)
"""
import logging
import os
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from smtp_server import AUTH_MASK, CaptureServer, make_self_signed_cert  # noqa: E402

# aiosmtpd warns of each odd command the tests send on purpose; its errors still show.
logging.getLogger("mail.log").setLevel(logging.ERROR)

MSG = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nhello\r\n..dot\r\n"
# MSG as smtplib puts it on the wire: its ".." line dot-stuffed once more.
MSG_STUFFED = MSG.replace(b"\r\n..dot", b"\r\n...dot")
QUEUED = re.compile(rb"^2\.0\.0 Ok: queued as ([0-9A-F]+)$")


class RawClient:
    """Minimal line-oriented SMTP client over a raw socket (no normalisation)."""
    opened = []

    def __init__(self, port):
        RawClient.opened.append(self)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        assert self.reply().startswith(b"220"), "no greeting"

    def reply(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(4096)
                if not chunk:
                    return b"".join(lines) or b"<closed>"
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line)
            if line[3:4] != b"-":
                return b"\n".join(lines)

    def cmd(self, raw):
        self.sock.sendall(raw)
        return self.reply()

    def send(self, data, mail=b"MAIL FROM:<a@example.org>", rcpt=b"RCPT TO:<b@example.org>"):
        """Full transaction with raw DATA bytes; returns the end-of-data reply."""
        assert self.cmd(b"EHLO raw\r\n").startswith(b"250")
        assert self.cmd(mail + b"\r\n").startswith(b"250")
        assert self.cmd(rcpt + b"\r\n").startswith(b"250")
        assert self.cmd(b"DATA\r\n").startswith(b"354")
        return self.cmd(data + b".\r\n")

    def close(self):
        self.sock.close()


class PlainTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.srv = CaptureServer(maildir=self.tmp.name).start()

    def tearDown(self):
        while RawClient.opened:
            RawClient.opened.pop().close()
        self.srv.stop()
        self.tmp.cleanup()

    def smtp(self):
        s = smtplib.SMTP("127.0.0.1", self.srv.port, timeout=10)
        self.addCleanup(s.close)
        s.ehlo("selftest")
        return s

    def transact(self, s, rcpts=("b@example.org",), msg=MSG):
        self.assertEqual(s.mail("a@example.org")[0], 250)
        for r in rcpts:
            s.rcpt(r)
        return s.data(msg)

    def test_plain_send_and_queue_id(self):
        s = self.smtp()
        code, resp = self.transact(s)
        self.assertEqual(code, 250, resp)
        qid = QUEUED.match(resp).group(1).decode()
        [m] = self.srv.wait_for(1, timeout=5)
        self.assertEqual(m["queue_id"], qid)
        self.assertEqual(m["mail_from"], "a@example.org")
        self.assertEqual(m["rcpt_tos"], ["b@example.org"])
        self.assertEqual(m["data"], MSG)   # smtplib dot-stuffs "..dot", server unstuffs
        self.assertIsNone(m["authenticated_user"])
        self.assertEqual(m["session_id"], 1)
        self.assertEqual(m["peer"][0], "127.0.0.1")
        with open(os.path.join(self.tmp.name, "0001.eml"), "rb") as f:
            self.assertEqual(f.read(), m["data"])
        code2, resp2 = self.transact(s)
        self.assertNotEqual(QUEUED.match(resp2).group(1).decode(), qid)
        self.assertTrue(os.path.exists(os.path.join(self.tmp.name, "0002.eml")))

    def test_data_is_raw_bytes(self):
        body = b"Subject: x\r\n\r\n\xc3\xa9t\xe9\r\n..leading dot\r\n"
        c = RawClient(self.srv.port)
        self.assertTrue(c.send(body, mail=b"MAIL FROM:<a@example.org> BODY=8BITMIME")
                        .startswith(b"250 2.0.0"))
        self.assertEqual(self.srv.messages[0]["data"], body.replace(b"..", b"."))
        self.assertEqual(self.srv.messages[0]["mail_options"], ["BODY=8BITMIME"])

    def test_bare_lf_and_cr_rejected(self):
        for bad in (b"Subject: x\r\n\r\nline1\nline2\r\n",
                    b"Subject: x\n\r\nbody\r\n",
                    b"Subject: x\r\n\r\nline1\rline2\r\n"):
            c = RawClient(self.srv.port)
            r = c.send(bad)
            self.assertTrue(r.startswith(b"550 5.5.2"), (bad, r))
            # session stays usable after the rejection
            self.assertTrue(c.send(b"Subject: ok\r\n\r\nok\r\n").startswith(b"250"))
            c.close()
        self.assertEqual(len(self.srv.messages), 3)
        self.assertEqual([t["outcome"] for t in self.srv.transactions],
                         ["reject", "accept"] * 3)
        self.assertNotIn(b"\n", self.srv.messages[0]["data"].replace(b"\r\n", b""))

    def test_long_lines(self):
        c = RawClient(self.srv.port)
        ok = b"Subject: x\r\n\r\n" + b"a" * 998 + b"\r\n" + b".." + b"b" * 997 + b"\r\n"
        self.assertTrue(c.send(ok).startswith(b"250"))
        for n in (999, 1500, 20000):   # 1500+ would be aiosmtpd's own "500" by default
            r = c.send(b"Subject: x\r\n\r\n" + b"a" * n + b"\r\n")
            self.assertTrue(r.startswith(b"550 5.5.2"), (n, r))
        self.assertEqual(len(self.srv.messages), 1)

    def test_strict_envelope_syntax(self):
        c = RawClient(self.srv.port)
        c.cmd(b"EHLO raw\r\n")
        for bad in (b"MAIL FROM: <a@example.org>", b"MAIL FROM:a@example.org",
                    b"MAIL FROM:<a@example.org>  SIZE=10", b"MAIL FROM:<a@example.org>SIZE=1"):
            self.assertTrue(c.cmd(bad + b"\r\n").startswith(b"501"), bad)
        self.assertTrue(c.cmd(b"MAIL FROM:<a@example.org> SIZE=100 BODY=8BITMIME SMTPUTF8\r\n")
                        .startswith(b"250"))
        for bad in (b"RCPT TO: <b@example.org>", b"RCPT TO:b@example.org", b"RCPT TO:<>"):
            self.assertTrue(c.cmd(bad + b"\r\n").startswith(b"501"), bad)
        self.assertTrue(c.cmd(b"RCPT TO:<b@example.org>\r\n").startswith(b"250"))
        c.close()

    def test_lenient_mode(self):
        with CaptureServer(strict=False) as srv:
            c = RawClient(srv.port)
            self.assertTrue(c.send(b"Subject: x\r\n\r\nbare\nlf\r\n",
                                   mail=b"MAIL FROM: <a@example.org>").startswith(b"250"))
            self.assertEqual(srv.messages[0]["data"], b"Subject: x\r\n\r\nbare\nlf\r\n")

    def test_fail_next_then_success(self):
        self.srv.fail_next(2, 451, "4.3.0 try later")
        s = self.smtp()
        self.assertEqual(self.transact(s), (451, b"4.3.0 try later"))
        s.rset()
        self.assertEqual(self.transact(s), (451, b"4.3.0 try later"))
        s.rset()
        self.assertEqual(self.transact(s)[0], 250)
        self.srv.fail_next(1, 554, "5.7.1 rejected")
        self.assertEqual(self.transact(s), (554, b"5.7.1 rejected"))
        self.assertEqual(len(self.srv.messages), 1)
        self.assertEqual([t["reply"][:3] for t in self.srv.transactions],
                         ["451", "451", "250", "554"])

    def test_reject_rcpt(self):
        self.srv.reject_rcpt("nobody@example.org", 550, "5.1.1 no such user")
        s = self.smtp()
        s.mail("a@example.org")
        self.assertEqual(s.rcpt("nobody@example.org"), (550, b"5.1.1 no such user"))
        self.assertEqual(s.rcpt("b@example.org")[0], 250)
        self.assertEqual(s.data(MSG)[0], 250)
        self.assertEqual(self.srv.messages[0]["rcpt_tos"], ["b@example.org"])
        refused = s.sendmail("a@example.org", ["NoBody@example.org", "c@example.org"], MSG)
        self.assertEqual(refused, {"NoBody@example.org": (550, b"5.1.1 no such user")})
        self.srv.unreject_rcpt("nobody@example.org")
        self.assertEqual(s.sendmail("a@example.org", ["nobody@example.org"], MSG), {})

    def test_close_next(self):
        self.srv.close_next(1)
        s = self.smtp()
        s.mail("a@example.org")
        s.rcpt("b@example.org")
        with self.assertRaises(smtplib.SMTPServerDisconnected):
            s.data(MSG)
        self.assertEqual(self.srv.transactions[0]["outcome"], "close")
        self.assertIsNone(self.srv.transactions[0]["reply"])
        self.assertEqual(self.srv.messages, [])
        s2 = self.smtp()
        self.assertEqual(self.transact(s2)[0], 250)
        self.assertEqual(self.srv.connections, 2)

    def test_reply_421_next(self):
        self.srv.reply_421_next(1)
        c = RawClient(self.srv.port)
        self.assertTrue(c.send(b"Subject: x\r\n\r\nx\r\n").startswith(b"421 "))
        self.assertEqual(c.sock.recv(100), b"")    # server closed the connection
        c.close()
        self.assertEqual(self.srv.messages, [])

    def test_delay_next(self):
        self.srv.delay_next(1, 0.7)
        s = self.smtp()
        t0 = time.monotonic()
        self.assertEqual(self.transact(s)[0], 250)
        self.assertGreaterEqual(time.monotonic() - t0, 0.7)
        t0 = time.monotonic()
        self.assertEqual(self.transact(s)[0], 250)
        self.assertLess(time.monotonic() - t0, 0.5)

    def test_connection_reuse_counter(self):
        s = self.smtp()
        for _ in range(3):
            self.assertEqual(self.transact(s)[0], 250)
        s.quit()
        msgs = self.srv.wait_for(3, timeout=5)
        self.assertEqual(self.srv.connections, 1)
        self.assertEqual({m["session_id"] for m in msgs}, {1})
        self.assertEqual(len({m["queue_id"] for m in msgs}), 3)

    def test_wait_for_timeout_reports(self):
        self.srv.fail_next(1, 451, "4.3.0 try later")
        self.transact(self.smtp())
        with self.assertRaises(AssertionError) as cm:
            self.srv.wait_for(1, timeout=0.3)
        self.assertIn("4.3.0 try later", str(cm.exception))

    def test_no_auth_advertised_without_users(self):
        s = self.smtp()
        self.assertFalse(s.has_extn("auth"))
        self.assertTrue(s.has_extn("8bitmime"))


class TLSAuthTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.cert, cls.key = make_self_signed_cert(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def server(self, **kw):
        srv = CaptureServer(tls_cert=self.cert, tls_key=self.key, **kw).start()
        self.addCleanup(srv.stop)
        return srv

    def client(self, srv):
        s = smtplib.SMTP("127.0.0.1", srv.port, timeout=10)
        self.addCleanup(s.close)
        s.ehlo("selftest")
        return s

    def ctx(self):
        return ssl.create_default_context(cafile=self.cert)   # verifies IP SAN 127.0.0.1

    def test_starttls_auth_plain_and_login(self):
        srv = self.server(require_starttls=True, auth_users={"letterd": "s3cret"})
        for mech in ("PLAIN", "LOGIN"):
            s = self.client(srv)
            self.assertTrue(s.has_extn("starttls"))
            self.assertFalse(s.has_extn("auth"))
            self.assertEqual(s.mail("a@example.org")[0], 530)   # must STARTTLS first
            s.starttls(context=self.ctx())
            s.ehlo("selftest")
            self.assertIn(mech, s.esmtp_features["auth"].split())
            self.assertEqual(s.mail("a@example.org")[0], 530)   # AUTH required
            s.rset()
            s.user, s.password = "letterd", "s3cret"
            code, _ = s.auth(mech, getattr(s, "auth_" + mech.lower()))
            self.assertEqual(code, 235)
            self.assertEqual(s.sendmail("a@example.org", ["b@example.org"], MSG), {})
            s.quit()
        msgs = srv.wait_for(2)
        self.assertEqual([m["authenticated_user"] for m in msgs], ["letterd", "letterd"])
        self.assertEqual(srv.connections, 2)

    def test_wrong_password(self):
        srv = self.server(auth_users={"letterd": "s3cret"})
        s = self.client(srv)
        s.starttls(context=self.ctx())
        s.ehlo("selftest")
        with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
            s.login("letterd", "wrong")
        self.assertEqual(cm.exception.smtp_code, 535)
        self.assertIn(b"5.7.8", cm.exception.smtp_error)

    def test_tls_without_auth_users(self):
        srv = self.server()
        s = self.client(srv)
        s.starttls(context=self.ctx())
        s.ehlo("selftest")
        self.assertFalse(s.has_extn("auth"))
        self.assertEqual(s.sendmail("a@example.org", ["b@example.org"], MSG), {})
        self.assertEqual(srv.wait_for(1)[0]["session_id"], 1)

    def test_close_and_421_under_tls(self):
        srv = self.server()
        for fault in (srv.close_next, srv.reply_421_next):
            fault(1)
            s = self.client(srv)
            s.starttls(context=self.ctx())
            s.ehlo("selftest")
            with self.assertRaises((smtplib.SMTPServerDisconnected, smtplib.SMTPDataError,
                                    smtplib.SMTPResponseException)):
                s.sendmail("a@example.org", ["b@example.org"], MSG)
        self.assertEqual([t["outcome"] for t in srv.transactions], ["close", "421"])


class TranscriptTests(unittest.TestCase):
    def setUp(self):
        self.srv = CaptureServer().start()
        self.addCleanup(self.srv.stop)

    def raw(self, srv=None):
        c = RawClient((srv or self.srv).port)
        self.addCleanup(c.close)
        return c

    def test_a_session_line_by_line(self):
        self.srv.reject_rcpt("nobody@example.org", 550, "5.1.1 no such user")
        s = smtplib.SMTP("127.0.0.1", self.srv.port, timeout=10)
        s.ehlo("selftest")
        s.mail("a@example.org")
        s.rcpt("nobody@example.org")
        s.rcpt("b@example.org")
        s.data(MSG)
        s.rset()
        s.noop()
        s.quit()
        [t] = self.srv.wait_closed()
        self.assertEqual(t, [("ehlo selftest", 250), ("mail FROM:<a@example.org>", 250),
                             ("rcpt TO:<nobody@example.org>", 550), ("rcpt TO:<b@example.org>", 250),
                             ("data", 354), (".", 250), ("rset", 250), ("noop", 250), ("quit", 221)])
        self.assertEqual(t.greeting, 220)
        self.assertTrue(t.closed)
        self.assertEqual(t.data, [MSG_STUFFED], "DATA as it crossed the wire, dot-stuffed")
        self.assertEqual(self.srv.messages[0]["data"], MSG, "while messages hold it unstuffed")

    def test_the_start_up_probe_is_no_connection_and_a_silent_one_is(self):
        self.assertEqual(self.srv.transcripts(), [])
        self.raw().close()
        [t] = self.srv.wait_closed()
        self.assertEqual((t, t.greeting, t.data, t.closed), ([], 220, [], True))

    def test_lines_are_verbatim_but_for_their_crlf(self):
        c = self.raw()
        c.cmd(b"EHLO raw\r\n")
        c.cmd(b"MAIL FROM: <a@example.org>\r\n")      # strict: 501
        c.cmd(b"NOOP\n")                                # a bare LF ends a command for aiosmtpd
        c.cmd(b"RSET \r\n")
        c.cmd(b"XYZZY caf\xc3\xa9 \xff\r\n")
        c.cmd(b"NOOP " + b"x" * 70000 + b"\r\n")      # longer than the reader's limit
        c.send(b"Subject: x\r\n\r\n" + b"y" * 70000 + b"\r\n..z\r\n", mail=b"MAIL FROM:<a@example.org>")
        c.cmd(b"DATA\r\n")
        c.close()
        [t] = self.srv.wait_closed()
        self.assertEqual(t[:6], [("EHLO raw", 250), ("MAIL FROM: <a@example.org>", 501), ("NOOP\n", 250),
                                 ("RSET ", 250), ("XYZZY caf\u00e9 \udcff", 500),
                                 ("NOOP " + "x" * 70000, 500)])
        self.assertEqual(t[5][0].encode("utf-8", "surrogateescape"), b"NOOP " + b"x" * 70000)
        self.assertEqual(t[4][0].encode("utf-8", "surrogateescape"), b"XYZZY caf\xc3\xa9 \xff")
        self.assertEqual(t[6:], [("EHLO raw", 250), ("MAIL FROM:<a@example.org>", 250),
                                 ("RCPT TO:<b@example.org>", 250), ("DATA", 354), (".", 500),
                                 ("DATA", 503)])
        self.assertEqual(t.data, [b"Subject: x\r\n\r\n" + b"y" * 70000 + b"\r\n..z\r\n"])

    def test_auth_credentials_are_never_recorded(self):
        with tempfile.TemporaryDirectory() as d:
            cert, key = make_self_signed_cert(d)
            srv = CaptureServer(tls_cert=cert, tls_key=key, auth_users={"letterd": "s3cret"}).start()
            self.addCleanup(srv.stop)
            for mech in ("PLAIN", "LOGIN"):
                s = smtplib.SMTP("127.0.0.1", srv.port, timeout=10)
                s.ehlo("selftest")
                s.starttls(context=ssl.create_default_context(cafile=cert))
                s.ehlo("selftest")
                s.user, s.password = "letterd", "s3cret"
                s.auth(mech, getattr(s, "auth_" + mech.lower()))     # with an initial response
                s.quit()
            c = self.raw(srv)
            c.cmd(b"EHLO raw\r\n")
            c.cmd(b"STARTTLS\r\n")
            c.sock = ssl.create_default_context(cafile=cert).wrap_socket(c.sock, server_hostname="localhost")
            c.cmd(b"EHLO raw\r\n")
            self.assertTrue(c.cmd(b"AUTH PLAIN\r\n").startswith(b"334"))
            self.assertTrue(c.cmd(b"*\r\n").startswith(b"501"))
            self.assertTrue(c.cmd(b"AUTH LOGIN\r\n").startswith(b"334"))
            self.assertTrue(c.cmd(b"bGV0dGVyZA==\r\n").startswith(b"334"))
            self.assertTrue(c.cmd(b"d3Jvbmc=\r\n").startswith(b"535"))
            c.cmd(b"QUIT\r\n")
            c.close()
            plain, login, raw = srv.wait_closed()
        tls = [("ehlo selftest", 250), ("STARTTLS", 220), ("ehlo selftest", 250)]
        self.assertEqual(plain, tls + [("AUTH PLAIN " + AUTH_MASK, 235), ("quit", 221)])
        self.assertEqual(login, tls + [("AUTH LOGIN " + AUTH_MASK, 334), (AUTH_MASK, 235), ("quit", 221)])
        self.assertEqual(raw, [("EHLO raw", 250), ("STARTTLS", 220), ("EHLO raw", 250), ("AUTH PLAIN", 334),
                               ("*", 501), ("AUTH LOGIN", 334), (AUTH_MASK, 334), (AUTH_MASK, 535),
                               ("QUIT", 221)])
        recorded = repr([plain, login, raw])
        for secret in ("s3cret", "czNjcmV0", "AGxldHRlcmQAczNjcmV0", "d3Jvbmc="):
            self.assertNotIn(secret, recorded)

    def test_faults_at_the_end_of_data(self):
        self.srv.close_next(1)
        self.srv.reply_421_next(1)
        self.srv.raw_reply_next(1, "hello there")
        replies = [self.raw().send(b"Subject: x\r\n\r\nx\r\n") for _ in range(3)]
        self.assertEqual(replies, [b"<closed>", b"421 4.3.2 Service shutting down, closing connection",
                                   b"hello there"])
        RawClient.opened.pop().close()
        self.srv.stall_next(1)
        c = self.raw()
        for line in (b"EHLO raw", b"MAIL FROM:<a@example.org>", b"RCPT TO:<b@example.org>", b"DATA"):
            c.cmd(line + b"\r\n")
        c.sock.sendall(b"Subject: x\r\n\r\nx\r\n.\r\n")   # a stall: no reply to wait for
        with self.assertRaises(AssertionError) as cm:
            self.srv.wait_closed(timeout=0.5)
        self.assertIn("still open", str(cm.exception))
        c.close()
        ends = [t[-1] for t in self.srv.wait_closed()]
        self.assertEqual(ends, [(".", None), (".", 421), (".", "hello there"), (".", None)])

    def test_clear_forgets_and_an_open_connection_goes_on(self):
        c = self.raw()
        c.cmd(b"EHLO one\r\n")
        self.raw().close()
        deadline = time.monotonic() + 10
        while [t.closed for t in self.srv.transcripts()] != [False, True]:
            self.assertLess(time.monotonic(), deadline, self.srv.transcripts())
            time.sleep(0.01)
        self.srv.clear()
        c.cmd(b"NOOP\r\n")
        [t] = self.srv.transcripts()
        self.assertEqual((t, t.greeting, t.closed), ([("NOOP", 250)], 220, False))


class CLITests(unittest.TestCase):
    def test_cli(self):
        with tempfile.TemporaryDirectory() as d:
            p = subprocess.Popen([sys.executable, os.path.join(HERE, "smtp_server.py"),
                                  "--port", "0", "--maildir", d],
                                 stdout=subprocess.PIPE, text=True)
            try:
                line = p.stdout.readline()
                m = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", line)
                self.assertTrue(m, line)
                with smtplib.SMTP("127.0.0.1", int(m.group(1)), timeout=10) as s:
                    s.sendmail("a@example.org", ["b@example.org"], MSG)
                p.send_signal(signal.SIGTERM)
                self.assertEqual(p.wait(timeout=10), 0)
                self.assertEqual(os.listdir(d), ["0001.eml"])
            finally:
                if p.poll() is None:
                    p.kill()
                p.stdout.close()


if __name__ == "__main__":
    unittest.main()
