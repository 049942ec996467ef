"""What each client connection of the capture server said and was answered.

smtp_server.CaptureServer wraps each connection's reader in a TapReader and
hands each reply it pushes to a Tape, which writes the connection's Transcript.
A Tape works with the capture server through three of its members: _cond
(the Condition guarding its state, notified at each change), _starting
(true during the Controller's start-up probe, which is not recorded) and
_new_transcript() (appends an empty Transcript and returns it).

Transcripts: a Transcript is a list of (command, reply) pairs, one for each
line the client sent, in order.  `command` is the line as received, decoded
UTF-8 with surrogateescape (.encode("utf-8", "surrogateescape") gives back the
bytes), with its CRLF stripped and nothing else: a line that ended in a bare LF
keeps it.  Two lines are not verbatim: an AUTH command keeps its verb and
mechanism and has any initial response replaced by AUTH_MASK ("AUTH PLAIN
<credentials>"), and each line answering an AUTH challenge is AUTH_MASK itself
("*", which cancels the AUTH, is kept); no password is ever recorded.  The
message after "DATA" -> 354 is not a command: the line "." that ends it is,
and its reply is the end-of-DATA reply.  `reply` is the code (int) of the
reply the server sent to the line, the reply's first line (str) when that does
not start with three digits, or None when it sent none (a dropped connection,
a stall, or a client that went away first).  A reply the server sent when no
line was waiting for one (after the greeting) is recorded as (None, reply).
Attributes: .greeting (code of the 220, None before it), .data (list of bytes:
each DATA payload exactly as received -- dot-stuffed, CRLFs as sent, without
the "." line that ends it; one the connection's end cut short is there as far
as it came), .closed (True once the connection has ended).
"""

__all__ = ["AUTH_MASK", "Tape", "TapReader", "Transcript"]

AUTH_MASK = "<credentials>"


class Transcript(list):
    """One client connection: (command, reply) pairs; see the module docstring."""

    def __init__(self, pairs=(), greeting=None, data=(), closed=False):
        super().__init__(pairs)
        self.greeting, self.data, self.closed = greeting, list(data), closed
        self._waiting = None      # index of the line whose reply is not yet sent
        self._message = None      # the DATA payload being received (a bytearray)
        self._fragment = b""      # the start of an overlong command line

    def _forget(self):
        """Empties the transcript; the connection's next lines are recorded afresh."""
        self.clear()
        self.data.clear()
        self._waiting, self._message, self._fragment = None, None, b""

    def __repr__(self):
        return "Transcript(%s, greeting=%r, data=%r, closed=%r)" % (
            list.__repr__(self), self.greeting, self.data, self.closed)


def _reply_of(status):
    """The code (int) of a reply, or its first line when it has none."""
    first = status.split(b"\r\n", 1)[0]
    if len(first) >= 3 and first[:3].isdigit() and first[3:4] in (b"", b" ", b"-"):
        return int(first[:3])
    return first.decode("utf-8", "surrogateescape")


def _is_final(status):
    """Whether a pushed reply ends with its last line (not a "250-" continuation)."""
    last = status.rstrip(b"\r\n").rsplit(b"\r\n", 1)[-1]
    return last[3:4] != b"-"


class Tape:
    """Records one connection into its Transcript (called on the server's loop)."""

    def __init__(self, capture):
        self.capture = capture
        self.t = None if capture._starting else capture._new_transcript()

    def line(self, raw, kind):
        """A complete line from the client: kind is 'command', 'data' or 'auth'."""
        if self.t is None:
            return
        t = self.t
        with self.capture._cond:
            if kind == "data":
                if raw == b".\r\n" and (t._message is None or t._message.endswith(b"\r\n")):
                    t.data.append(bytes(t._message or b""))
                    t._message = None
                    self._command(".")
                else:
                    if t._message is None:
                        t._message = bytearray()
                    t._message += raw
                return
            raw, t._fragment = t._fragment + raw, b""
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw
            text = raw.decode("utf-8", "surrogateescape")
            if kind == "auth":
                text = text if text.strip() == "*" else AUTH_MASK
            elif text[:5].upper() == "AUTH ":
                words = text.split(None, 2)
                text = " ".join(words[:2] + ([AUTH_MASK] if len(words) > 2 else []))
            self._command(text)

    def partial(self, raw, kind):
        """Part of a line too long for the reader, read on its own."""
        if self.t is None:
            return
        with self.capture._cond:
            if kind == "data":
                if self.t._message is None:
                    self.t._message = bytearray()
                self.t._message += raw
            else:
                self.t._fragment += raw

    def _command(self, text):
        self.t.append((text, None))
        self.t._waiting = len(self.t) - 1
        self.capture._cond.notify_all()

    def reply(self, status):
        if self.t is None or not _is_final(status):
            return
        t, code = self.t, _reply_of(status)
        with self.capture._cond:
            if t._waiting is not None:
                t[t._waiting] = (t[t._waiting][0], code)
                t._waiting = None
            elif t.greeting is None and not t:
                t.greeting = code
            else:
                t.append((None, code))
            self.capture._cond.notify_all()

    def closed(self):
        if self.t is None:
            return
        with self.capture._cond:
            if self.t._message is not None:          # the connection ended inside DATA
                self.t.data.append(bytes(self.t._message))
                self.t._message = None
            self.t.closed = True
            self.capture._cond.notify_all()


class TapReader:
    """The connection's StreamReader, handing each line it returns to a Tape.

    aiosmtpd reads command lines with readuntil() (b"\\n"), DATA lines with
    readuntil(b"\\r\\n"), AUTH responses with readline(), and the rest of a
    line too long for the reader with read().
    """

    def __init__(self, reader, tape):
        object.__setattr__(self, "_reader", reader)
        object.__setattr__(self, "_tape", tape)
        object.__setattr__(self, "_kind", "command")

    def __getattr__(self, name):
        return getattr(self._reader, name)

    def __setattr__(self, name, value):
        setattr(self._reader, name, value)   # STARTTLS sets the reader's transport

    async def readuntil(self, separator=b"\n"):
        kind = "data" if separator == b"\r\n" else "command"
        object.__setattr__(self, "_kind", kind)
        line = await self._reader.readuntil(separator)
        self._tape.line(bytes(line), kind)
        return line

    async def readline(self):
        object.__setattr__(self, "_kind", "auth")
        line = await self._reader.readline()
        if line:
            self._tape.line(bytes(line), "auth")
        return line

    async def read(self, n=-1):
        chunk = await self._reader.read(n)
        self._tape.partial(bytes(chunk), self._kind)
        return chunk
