#!/usr/bin/python3
"""Real SMTP capture server for letterd integration tests (aiosmtpd, loopback only).

Run with Debian's interpreter: /usr/bin/python3 (needs python3-aiosmtpd 1.4.x).

Library use::

    from smtp_server import CaptureServer, make_self_signed_cert
    with CaptureServer() as srv:                 # binds 127.0.0.1 on a free port
        ... point letterd at 127.0.0.1:srv.port ...
        msgs = srv.wait_for(1, timeout=10)       # AssertionError if they don't arrive
        assert msgs[0]["rcpt_tos"] == ["a@example.org"]

CaptureServer(host="127.0.0.1", port=0, tls_cert=None, tls_key=None,
              require_starttls=False, auth_users=None, maildir=None, strict=True,
              auth_required=None, implicit_tls=False)
  .port              actual port (known after start())
  .messages          copy of accepted messages: dicts with mail_from, rcpt_tos,
                     mail_options, data (bytes as received, dot-unstuffed),
                     peer, session_id, authenticated_user, queue_id,
                     received_at (time.time() at the end of DATA)
  .transactions      every end-of-DATA, accepted or not, with 'reply'
                     (None when the connection was dropped without a reply)
  .connections       number of SMTP sessions (connections that sent HELO/EHLO)
  wait_for(count, timeout=10.0) -> messages
  clear()            forgets messages, transactions and transcripts (an open
                     connection's transcript goes on from there, emptied)
  transcripts() -> [Transcript]   every client connection, in the order they
                     came (the Controller's start-up probe left out); see below
  wait_closed(timeout=10.0) -> transcripts, once every connection has ended
                     (AssertionError if one stays open)
  Faults (thread-safe, any time; counted per end-of-DATA):
  fail_next(n, code=451, text="4.3.0 try later")   reply code at end of DATA
  reject_rcpt(address, code=550, text=...)         until unreject_rcpt()/clear_faults()
  close_next(n)       drop the connection after the data, without replying
  reply_421_next(n)   reply 421 and close        delay_next(n, seconds)
  Precedence at end of DATA: strict violation > close > 421 > fail > accept;
  the delay applies before whichever reply is sent.  Accepted messages get
  "250 2.0.0 Ok: queued as <QUEUEID>" (unique uppercase hex), and are written to
  maildir/NNNN.eml when maildir is given.
  Hostile relays (also counted per end-of-DATA; with them the precedence is
  strict violation > stall > close > 421 > raw reply > fail > long accept > accept):
  stall_next(n)       never answer; the session stays open and reads nothing more
  raw_reply_next(n, reply)   answer with `reply` as given (str or bytes, any
                      number of CRLF-separated lines); the message is not accepted
  long_accept_next(n, length, line_length=1000)   accept, with a 250 reply of
                      about `length` octets in lines of `line_length` (one line when
                      line_length >= length); its first line holds the queue id

Transcripts: a Transcript is a list of (command, reply) pairs, one for each
line the client sent; smtp_transcript.py, which records them, says exactly
what each holds.  AUTH_MASK and Transcript are importable from here too.

TLS: with tls_cert/tls_key and implicit_tls=True, the server speaks TLS from
the first byte (smtps://). Otherwise with tls_cert/tls_key, STARTTLS is offered (require_starttls -> 530 until
done).  With auth_users={user: password}, AUTH PLAIN/LOGIN is offered (only
after STARTTLS when TLS is configured) and required for MAIL unless
auth_required=False; bad credentials -> "535 5.7.8".  AUTH is never advertised
without auth_users.  make_self_signed_cert(dir) -> (cert, key) via openssl CLI.

strict=True behaves like a picky Postfix: DATA with a bare LF or bare CR ->
550 5.5.2; a DATA line over 998 octets -> 550 5.5.2; MAIL FROM/RCPT TO must be
exactly "FROM:<addr>" / "TO:<addr>" plus optional space-separated ESMTP params
(no space after the colon, no missing brackets) -> else 501 5.5.4.
Known aiosmtpd limitations: DATA lines are split on CRLF only, so a client that
ends DATA with "\\n.\\n" is never answered (the session hangs until the idle
timeout); "MAIL FROM:<>" (null sender) is refused with 501 by aiosmtpd itself.

CLI (demo):  /usr/bin/python3 smtp_server.py --port 2525 --maildir DIR
prints "listening on 127.0.0.1:PORT" and runs until SIGTERM/SIGINT.  --port 0 picks
a free port; also --tls-cert F --tls-key F [--require-starttls] [--auth USER:PASS].
"""
import argparse
import asyncio
import logging
import os
import re
import secrets
import signal
import ssl
import subprocess
import threading
import time
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

from smtp_transcript import AUTH_MASK, Tape, TapReader, Transcript

__all__ = ["AUTH_MASK", "CaptureServer", "Transcript", "make_self_signed_cert"]

MAX_LINE = 998
_BARE_CR_LF = re.compile(rb"\r(?!\n)|(?<!\r)\n")
_PARAMS = r"(?: [A-Za-z0-9][A-Za-z0-9-]*(?:=[!-<>-~]+)?)*"   # esmtp-keyword[=value]
_MAIL_RE = re.compile(r"FROM:<[^<>\s]*>" + _PARAMS, re.IGNORECASE)
_RCPT_RE = re.compile(r"TO:<[^<>\s]+>" + _PARAMS, re.IGNORECASE)

# aiosmtpd logs a deprecation warning on every successful AUTH (it sets the
# legacy Session.login_data itself); it would reach stderr via logging.lastResort.
logging.getLogger("mail.log").addFilter(
    lambda rec: "login_data is deprecated" not in rec.getMessage())
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")


def make_self_signed_cert(dirpath):
    """Create a self-signed cert for localhost/127.0.0.1; return (cert_path, key_path)."""
    cert, key = os.path.join(dirpath, "cert.pem"), os.path.join(dirpath, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", key, "-out", cert],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return cert, key


def _strict_violation(data):
    """Return a 550 reply if the raw DATA bytes break RFC 5321/5322 line rules."""
    if _BARE_CR_LF.search(data):
        return "550 5.5.2 Error: bare <CR> or <LF> received in message data"
    if any(len(line) > MAX_LINE for line in data.split(b"\r\n")):
        return "550 5.5.2 Error: message line longer than %d octets" % MAX_LINE
    return None


def _long_reply(accepted, length, line_length):
    """`accepted` ("250 ...") padded to about `length` octets in lines of `line_length`."""
    if line_length >= length:
        return accepted.ljust(length, "x")
    code, text = accepted[:3], accepted[4:]
    filler = "%s-%s" % (code, "x" * (line_length - 4))
    lines = ["%s-%s" % (code, text)] + [filler] * max(length // (line_length + 2), 1)
    return "\r\n".join(lines + ["%s %s" % (code, text)])


class _SMTP(SMTP):
    # NB: aiosmtpd turns any attribute named auth_* (on this class or the handler)
    # into an AUTH mechanism and any handle_* on the handler into a hook.
    line_length_limit = 1 << 16     # default 1001 -> "500"; we want our own 550

    def __init__(self, handler, capture, **kwargs):
        self.tape = Tape(capture)   # the factory makes one _SMTP per connection
        super().__init__(handler, **kwargs)
        self.capture = capture
        self.capture_sid = None      # survives STARTTLS (which replaces .session)

    def _client_connected_cb(self, reader, writer):
        super()._client_connected_cb(TapReader(reader, self.tape), writer)

    async def push(self, status):
        raw = status if isinstance(status, bytes) else status.encode("utf-8")
        self.tape.reply(raw)
        await super().push(status)

    def connection_lost(self, error):
        self.tape.closed()
        super().connection_lost(error)

    def _note_session(self):
        if self.capture_sid is None:
            self.capture_sid = self.capture._new_session()

    async def smtp_HELO(self, hostname):
        self._note_session()
        await super().smtp_HELO(hostname)

    async def smtp_EHLO(self, hostname):
        self._note_session()
        await super().smtp_EHLO(hostname)

    async def smtp_MAIL(self, arg):
        if self.capture.strict and arg is not None and not _MAIL_RE.fullmatch(arg):
            return await self.push("501 5.5.4 Syntax: MAIL FROM:<address> [parameters]")
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg):
        if self.capture.strict and arg is not None and not _RCPT_RE.fullmatch(arg):
            return await self.push("501 5.5.4 Syntax: RCPT TO:<address> [parameters]")
        await super().smtp_RCPT(arg)


class _Handler:
    def __init__(self, capture):
        self.capture = capture

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname          # a handle_EHLO hook must do this itself
        if not self.capture._users:
            responses = [r for r in responses if not r[4:].upper().startswith("AUTH")]
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.capture._rcpt_reply(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)     # hooks returning a status must do this
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        cap = self.capture
        data = bytes(envelope.original_content)
        auth = session.auth_data if session.authenticated else None
        info = {"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos),
                "mail_options": list(envelope.mail_options), "data": data,
                "peer": session.peer, "session_id": server.capture_sid,
                "authenticated_user": auth.login.decode("utf-8", "replace") if auth else None,
                "received_at": time.time()}
        violation = _strict_violation(data) if cap.strict else None
        delay, kind, reply = cap._decide(violation)
        if delay:
            await asyncio.sleep(delay)
        if kind == "accept":
            reply = cap._accept(info)
        elif kind == "long accept":
            reply = _long_reply(cap._accept(info), *reply)
        cap._record(info, kind, reply)
        if kind == "stall":
            await asyncio.sleep(3600)  # connection_lost() or stop() cancels this task first
        if kind in ("close", "421"):
            if reply:
                await server.push(reply)
            server.transport.close()
            await asyncio.sleep(60)   # connection_lost() cancels this task first
        return reply


class _Controller(Controller):
    def __init__(self, capture, handler, **kwargs):
        self.capture = capture
        super().__init__(handler, **kwargs)

    def factory(self):
        return _SMTP(self.handler, self.capture, **self.SMTP_kwargs)

    def _create_server(self):
        # aiosmtpd's Controller cannot use port 0 (its start-up probe connects to
        # self.port), so bind here and record the real port before the probe.
        async def bind():
            srv = await self.loop.create_server(
                self._factory_invoker, host=self.hostname, port=self.port,
                ssl=self.ssl_context)
            self.port = srv.sockets[0].getsockname()[1]
            return srv
        return bind()


class CaptureServer:
    """Threaded real SMTP server on 127.0.0.1 that records what it receives."""

    def __init__(self, host="127.0.0.1", port=0, tls_cert=None, tls_key=None,
                 require_starttls=False, auth_users=None, maildir=None, strict=True,
                 auth_required=None, implicit_tls=False):
        if host != "127.0.0.1":
            raise ValueError("CaptureServer only listens on 127.0.0.1")
        if bool(tls_cert) != bool(tls_key):
            raise ValueError("tls_cert and tls_key go together")
        self.host, self.port, self.strict, self.maildir = host, port, strict, maildir
        self._tls = (tls_cert, tls_key) if tls_cert else None
        self._require_starttls = require_starttls
        self._implicit_tls = implicit_tls  # smtps: TLS from the first byte, no STARTTLS
        self._users = dict(auth_users or {})
        self._auth_required = bool(self._users) if auth_required is None else auth_required
        self._cond = threading.Condition()
        self._messages, self._transactions = [], []
        self._transcripts = []
        self._starting = False      # the Controller's start-up probe is not a client
        self._sessions = 0
        self._seq = 0
        self._eml_next = 1
        self._controller = None
        self.clear_faults()

    # -- lifecycle ---------------------------------------------------------
    def start(self):
        tls_context = None
        if self._tls:
            tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls_context.load_cert_chain(*self._tls)
        if self.maildir:
            os.makedirs(self.maildir, exist_ok=True)
            nums = [int(f[:-4]) for f in os.listdir(self.maildir)
                    if f.endswith(".eml") and f[:-4].isdigit()]
            self._eml_next = max(nums, default=0) + 1
        self._controller = _Controller(
            self, _Handler(self), hostname=self.host, port=self.port,
            server_hostname="localhost",   # default is socket.getfqdn(): DNS per connection
            decode_data=False, enable_SMTPUTF8=True,
            ssl_context=tls_context if self._implicit_tls else None,
            tls_context=None if self._implicit_tls else tls_context,
            require_starttls=self._require_starttls and not self._implicit_tls,
            auth_require_tls=(bool(self._tls) and not self._implicit_tls) or not self._users,
            auth_required=self._auth_required, authenticator=self._check_login,
            auth_exclude_mechanism=[] if self._users else ["PLAIN", "LOGIN"])
        self._starting = True
        try:
            self._controller.start()
        finally:
            self._starting = False
        self.port = self._controller.port
        return self

    def stop(self):
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    __enter__ = start

    def __exit__(self, *exc):
        self.stop()

    # -- observation -------------------------------------------------------
    messages = property(lambda self: self._get(list, "_messages"))
    transactions = property(lambda self: self._get(list, "_transactions"))
    connections = property(lambda self: self._get(int, "_sessions"))

    def _get(self, copy, name):
        with self._cond:
            return copy(getattr(self, name))

    def clear(self):
        with self._cond:
            self._messages.clear()
            self._transactions.clear()
            self._transcripts[:] = [t for t in self._transcripts if not t.closed]
            for t in self._transcripts:
                t._forget()

    def transcripts(self):
        """A copy of every client connection's Transcript so far, in order."""
        with self._cond:
            return [Transcript(t, t.greeting, (bytes(d) for d in t.data), t.closed)
                    for t in self._transcripts]

    def wait_closed(self, timeout=10.0):
        """Block until every connection so far has ended; return transcripts()."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not all(t.closed for t in self._transcripts):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("a connection is still open after %.1fs: %r"
                                         % (timeout, self.transcripts()))
                self._cond.wait(left)
        return self.transcripts()

    def wait_for(self, count, timeout=10.0):
        """Block until >= count messages were accepted; return them or raise AssertionError."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    summary = [(t["mail_from"], t["rcpt_tos"], t["reply"])
                               for t in self._transactions]
                    raise AssertionError(
                        "expected %d message(s) within %.1fs, got %d; connections=%d; "
                        "transactions (from, rcpts, reply): %r"
                        % (count, timeout, len(self._messages), self._sessions, summary))
                self._cond.wait(left)
            return list(self._messages)

    # -- fault injection ---------------------------------------------------
    def _set(self, **values):
        with self._cond:
            self.__dict__.update(values)

    def fail_next(self, n, code=451, text="4.3.0 try later"):
        self._set(_fail=[n, "%d %s" % (code, text)])

    def reject_rcpt(self, address, code=550, text=None):
        text = text or "5.1.1 <%s>: Recipient address rejected: User unknown" % address
        with self._cond:
            self._rcpt_rejects[address.lower()] = "%d %s" % (code, text)

    def unreject_rcpt(self, address):
        with self._cond:
            self._rcpt_rejects.pop(address.lower(), None)

    def close_next(self, n):
        self._set(_close=n)

    def delay_next(self, n, seconds):
        self._set(_delay=[n, seconds])

    def reply_421_next(self, n):
        self._set(_r421=n)

    def stall_next(self, n):
        self._set(_stall=n)

    def raw_reply_next(self, n, reply):
        self._set(_raw=[n, reply])

    def long_accept_next(self, n, length, line_length=1000):
        self._set(_long_accept=[n, (length, line_length)])

    def clear_faults(self):
        """Cancel all pending faults and recipient rejections."""
        self._set(_fail=[0, None], _delay=[0, 0], _close=0, _r421=0, _rcpt_rejects={},
                  _stall=0, _raw=[0, None], _long_accept=[0, 0])

    # -- called from the server thread -------------------------------------
    def _new_transcript(self):
        with self._cond:
            self._transcripts.append(Transcript())
            return self._transcripts[-1]

    def _new_session(self):
        with self._cond:
            self._sessions += 1
            return self._sessions

    def _check_login(self, server, session, envelope, mechanism, auth_data):
        user = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        ok = user in self._users and self._users[user] == password
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def _rcpt_reply(self, address):
        with self._cond:
            return self._rcpt_rejects.get(address.lower())

    def _decide(self, violation):
        """Consume fault counters for one end-of-DATA -> (delay, kind, reply)."""
        with self._cond:
            delay = 0
            if self._delay[0] > 0:
                self._delay[0] -= 1
                delay = self._delay[1]
            if violation:
                return delay, "reject", violation
            if self._stall > 0:
                self._stall -= 1
                return delay, "stall", None
            if self._close > 0:
                self._close -= 1
                return delay, "close", None
            if self._r421 > 0:
                self._r421 -= 1
                return delay, "421", "421 4.3.2 Service shutting down, closing connection"
            if self._raw[0] > 0:
                self._raw[0] -= 1
                return delay, "raw", self._raw[1]
            if self._fail[0] > 0:
                self._fail[0] -= 1
                return delay, "fail", self._fail[1]
            if self._long_accept[0] > 0:
                self._long_accept[0] -= 1
                return delay, "long accept", self._long_accept[1]
            return delay, "accept", None

    def _accept(self, info):
        with self._cond:
            self._seq += 1
            queue_id = "%04X%s" % (self._seq, secrets.token_hex(4).upper())
            info["queue_id"] = queue_id
            if self.maildir:
                path = os.path.join(self.maildir, "%04d.eml" % self._eml_next)
                self._eml_next += 1
                with open(path, "wb") as f:
                    f.write(info["data"])
            self._messages.append(info)
            self._cond.notify_all()
        return "250 2.0.0 Ok: queued as " + queue_id

    def _record(self, info, kind, reply):
        with self._cond:
            self._transactions.append(dict(info, outcome=kind, reply=reply))
            self._cond.notify_all()


def main(argv=None):
    p = argparse.ArgumentParser(description="letterd test SMTP server (127.0.0.1 only)")
    p.add_argument("--port", type=int, default=2525, help="0 picks a free port")
    p.add_argument("--maildir", help="write accepted messages here as NNNN.eml")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--require-starttls", action="store_true")
    p.add_argument("--auth", action="append", default=[], metavar="USER:PASSWORD")
    args = p.parse_args(argv)
    users = dict(a.split(":", 1) for a in args.auth)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = CaptureServer(port=args.port, tls_cert=args.tls_cert, tls_key=args.tls_key,
                           require_starttls=args.require_starttls, auth_users=users or None,
                           maildir=args.maildir)
    with server:
        print("listening on %s:%d" % (server.host, server.port), flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
