"""The POP3 command handlers and the table that says in which state each is legal (RFC 1939
§§4-6, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH, RFC 6856 UTF8 and LANG). Handlers write
their `+OK` (and any multi-line body) through the session and raise `Pop3Error` for `-ERR`;
the connection loop checks the state once, before a handler runs, so handlers never re-check
it."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import IO, Any

from rmail import __version__
from rmail.auth import AuthError, LoginInfo, Principal
from rmail.auth.sasl import SaslError, decode_plain, decode_text
from rmail.pop3.connection import LineTooLong
from rmail.pop3.errors import Pop3Error
from rmail.pop3.parser import Auth, Command, Lang, MaybeMessage, Message, Pass, Top, User
from rmail.pop3.session import Maildrop, Session, State
from rmail.pop3.wire import Stuffer, top_length
from rmail.services import Services
from rmail.store.errors import NotFound, StoreError
from rmail.store.mailbox import Folder

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
READ_AHEAD_COUNT = 32  # small messages read in one trip to a thread
READ_AHEAD_BYTES = 256 * 1024  # and at most this much of them held per session
MECHANISMS = ("PLAIN", "LOGIN")
TRASH = "\\Trash"

# -- AUTHORIZATION ----------------------------------------------------------------------------


def _require_privacy(s: Session) -> None:
    if not s.login_allowed():
        raise Pop3Error("plaintext authentication is disabled; use STLS first", "AUTH")


async def _check(s: Session, user: str, password: str) -> Principal:
    try:
        principal = await s.core.auth.authenticate(user, password, ip=s.peer_ip, scope="pop3",
                                                   info=LoginInfo("pop3"))
    except AuthError as exc:
        if exc.reason == "locked":
            raise Pop3Error("too many failed logins; try again later", "SYS/TEMP") from None
        if exc.reason in ("2fa", "scope"):
            raise Pop3Error(str(exc), "AUTH") from None
        raise Pop3Error("invalid credentials", "AUTH") from None
    if not principal.account.pop3_enabled:
        raise Pop3Error("POP3 access is disabled for this account", "AUTH")
    return principal


def _open_maildrop(core: Services, principal: Principal) -> Maildrop | None:
    mailbox = core.mail.mailbox(principal.domain, principal.username)
    lock = mailbox.lock_maildrop()
    if lock is None:
        return None
    try:
        inbox = mailbox.folder("INBOX")
        uidvalidity, uids, sizes = inbox.read_index(
            lambda idx: (idx.uidvalidity, idx.uids[:], idx.wire_sizes()))
    except BaseException:
        lock.release()
        raise
    return Maildrop(inbox, lock, uidvalidity, uids, sizes)


async def _logged_in(s: Session, principal: Principal) -> None:
    drop = await s.run(_open_maildrop, s.core, principal)
    if drop is None:
        raise Pop3Error("the maildrop is in use by another POP3 session", "IN-USE")
    s.principal, s.drop, s.state = principal, drop, State.TRANSACTION
    count, octets = drop.stat()
    s.ok(f"{principal.address} has {count} messages ({octets} octets)")


async def user(s: Session, cmd: User) -> None:
    _require_privacy(s)
    s.user = cmd.user
    s.ok("send PASS")


async def pass_(s: Session, cmd: Pass) -> None:
    _require_privacy(s)
    name, s.user = s.user, None
    if name is None:
        raise Pop3Error("send USER first")
    await _logged_in(s, await _check(s, name, cmd.password))


async def _challenge(s: Session, prompt: bytes) -> bytes:
    s.conn.write(b"+ " + base64.b64encode(prompt) + b"\r\n")
    await s.conn.flush()
    try:
        async with asyncio.timeout(s.limits.timeout):
            line = await s.conn.read_line(s.limits.sasl_line)
    except LineTooLong:
        raise Pop3Error("SASL response too long", fatal=True) from None
    except TimeoutError:
        raise Pop3Error("timed out waiting for a SASL response", fatal=True) from None
    if line == b"*":  # RFC 5034 §4: the client cancels
        raise Pop3Error("AUTH cancelled")
    return line


async def auth(s: Session, cmd: Auth) -> None:
    if cmd.mechanism is None:  # the list, as many servers answer a bare AUTH
        s.ok("SASL mechanisms follow")
        if s.login_allowed():
            s.conn.write(b"".join(m.encode() + b"\r\n" for m in MECHANISMS))
        s.conn.write(b".\r\n")
        return
    _require_privacy(s)
    s.user = None
    try:
        if cmd.mechanism == "PLAIN":
            data = cmd.initial if cmd.initial is not None else await _challenge(s, b"")
            authzid, name, password = decode_plain(data)
            if authzid and authzid != name:
                raise Pop3Error("acting as another user is not supported", "AUTH")
        elif cmd.mechanism == "LOGIN":
            first = cmd.initial if cmd.initial else await _challenge(s, b"Username:")
            name = decode_text(first)
            password = decode_text(await _challenge(s, b"Password:"))
        else:
            raise Pop3Error(f"unsupported SASL mechanism {cmd.mechanism}")
    except SaslError as exc:
        raise Pop3Error(f"malformed SASL response: {exc}") from None
    await _logged_in(s, await _check(s, name, password))


async def stls(s: Session, _: Command) -> None:
    if s.conn.tls:
        raise Pop3Error("TLS is already active")
    if not s.starttls_offered:
        raise Pop3Error("STLS is not offered on this port")
    s.user = None
    s.ok("begin TLS negotiation")
    await s.conn.start_tls(s.ssl_context)


def capabilities(s: Session) -> list[str]:
    """RFC 2449 §6; the login ones only where logging in is possible."""
    caps = ["TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "EXPIRE NEVER",
            "LOGIN-DELAY 0", "UTF8", "LANG"]
    if s.state is State.AUTHORIZATION:
        if s.starttls_offered and not s.conn.tls:
            caps.append("STLS")
        if s.login_allowed():
            caps += ["USER", "SASL " + " ".join(MECHANISMS)]
    caps.append(f"IMPLEMENTATION rmail-{__version__}")
    return caps


async def capa(s: Session, _: Command) -> None:
    s.ok("capability list follows")
    s.conn.write(b"".join(c.encode() + b"\r\n" for c in capabilities(s)) + b".\r\n")


async def utf8(s: Session, _: Command) -> None:
    """RFC 6856 §2: UTF-8 mode, asked for before login. Messages are sent as stored in
    both modes: after UTF8 that is what the RFC requires; before it, a message with raw
    UTF-8 headers (RFC 6532) is sent as-is too, one of the choices §2 leaves the server (the
    others, a downgrade per RFC 6857 or hiding the message, change what LIST counted and
    what UIDL names, and lose the original). Arguments of USER and PASS are UTF-8 in
    either mode (the parser decodes them); the capability has no USER argument because no
    SASLprep is applied to them. So the mode changes nothing here and needs no state."""
    s.ok("UTF-8 mode enabled")


LANGUAGES = {"en": "English"}  # every reply text is English


async def lang(s: Session, cmd: Lang) -> None:
    """RFC 6856 §3: LANG lists the response languages; LANG with a range picks the one it
    matches by lookup (RFC 4647 §3.4: "en-GB" falls back to "en"; "*" is the default)."""
    if cmd.range is None:
        s.ok("language listing follows")
        s.conn.write(b"".join(f"{t} {n}\r\n".encode() for t, n in LANGUAGES.items())
                     + b".\r\n")
        return
    wanted = cmd.range.lower()
    tag = "en" if wanted == "*" else next(
        (t for t in LANGUAGES if wanted == t or wanted.startswith(t + "-")), None)
    if tag is None:
        raise Pop3Error("invalid language")
    s.ok(f"{tag} {LANGUAGES[tag]} responses")


async def quit_(s: Session, _: Command) -> None:
    if s.state is State.AUTHORIZATION:
        s.state = State.CLOSED
        s.ok("bye")
        return
    drop = s.maildrop()
    s.state = State.UPDATE
    seen = [drop.uids[i] for i in sorted(drop.retrieved - drop.deleted)]
    moved = [drop.uids[i] for i in sorted(drop.deleted)]
    left = len(drop.uids) - len(drop.deleted)
    try:
        if seen or moved:
            done = asyncio.ensure_future(s.run(_update, s.core, s.principal, drop.folder,
                                               seen, moved))
            try:
                await asyncio.shield(done)
            except asyncio.CancelledError:  # stopping: the update finishes before we let go
                await asyncio.wait({done})
                raise
    except StoreError as exc:
        log.error("POP3 UPDATE for %s failed: %s", s.principal and s.principal.address, exc)
        raise Pop3Error("some changes could not be applied; the maildrop is unchanged or "
                        "partly updated, try again", "SYS/TEMP", fatal=True) from None
    finally:
        s.release()
        s.state = State.CLOSED
    s.ok(f"bye ({left} messages left)")


def _update(core: Services, principal: Principal | None, inbox: Folder, seen: list[int],
            moved: list[int]) -> None:
    assert principal is not None
    trash = None
    if moved:
        mailbox = core.mail.mailbox(principal.domain, principal.username)
        trash = mailbox.special_folder(TRASH, "Trash")
    inbox.settle(seen, moved, trash)


# -- TRANSACTION ------------------------------------------------------------------------------


async def stat(s: Session, _: Command) -> None:
    count, octets = s.maildrop().stat()
    s.ok(f"{count} {octets}")


async def list_(s: Session, cmd: MaybeMessage) -> None:
    drop = s.maildrop()
    if cmd.number is not None:
        i = drop.index(cmd.number)
        s.ok(f"{cmd.number} {drop.sizes[i]}")
        return
    count, octets = drop.stat()
    s.ok(f"{count} messages ({octets} octets)")
    sizes = drop.sizes
    s.conn.write(b"".join(b"%d %d\r\n" % (i + 1, sizes[i]) for i in drop.live()) + b".\r\n")


async def uidl(s: Session, cmd: MaybeMessage) -> None:
    drop = s.maildrop()
    if cmd.number is not None:
        i = drop.index(cmd.number)
        s.ok(f"{cmd.number} {drop.unique_id(i)}")
        return
    s.ok("unique-id listing follows")
    prefix = b"%d." % drop.uidvalidity
    uids = drop.uids
    s.conn.write(b"".join(b"%d %s%d\r\n" % (i + 1, prefix, uids[i]) for i in drop.live())
                 + b".\r\n")


async def noop(s: Session, _: Command) -> None:
    s.ok()


async def dele(s: Session, cmd: Message) -> None:
    drop = s.maildrop()
    drop.deleted.add(drop.index(cmd.number))
    s.ok(f"message {cmd.number} deleted")


async def rset(s: Session, _: Command) -> None:
    drop = s.maildrop()
    drop.deleted.clear()
    drop.retrieved.clear()  # the \Seen a RETR would set at QUIT is undone too
    count, octets = drop.stat()
    s.ok(f"maildrop has {count} messages ({octets} octets)")


def _open_message(folder: Folder, uid: int) -> tuple[IO[bytes] | None, bytes]:
    """The first chunk, and the open file when there is more (else it is closed already)."""
    f = folder.open_message(uid)
    try:
        data = f.read(CHUNK)
    except BaseException:
        f.close()
        raise
    if len(data) < CHUNK:  # a regular file reads short only at its end
        f.close()
        return None, data
    return f, data


def _read_small(folder: Folder, uids: list[int]) -> list[bytes | None]:
    """Whole messages (each known to be small); None for one that is gone."""
    out: list[bytes | None] = []
    for uid in uids:
        try:
            out.append(folder.read_message(uid))
        except NotFound:
            out.append(None)
    return out


def _read_ahead_plan(drop: Maildrop, i: int) -> list[int]:
    """Message `i` and the small messages after it that a client downloading in order will
    ask for next: read in one trip to a thread instead of one trip each."""
    plan, total = [i], drop.sizes[i]
    for j in range(i + 1, len(drop.uids)):
        if len(plan) >= READ_AHEAD_COUNT or drop.sizes[j] >= CHUNK or \
                total + drop.sizes[j] > READ_AHEAD_BYTES:
            break
        if j not in drop.deleted:
            plan.append(j)
            total += drop.sizes[j]
    return plan


async def _first_chunk(s: Session, drop: Maildrop, i: int) -> tuple[IO[bytes] | None, bytes]:
    data = drop.ahead.pop(i, None)
    if data is not None:
        return None, data
    try:
        if drop.sizes[i] >= CHUNK:
            return await s.run(_open_message, drop.folder, drop.uids[i])
        plan = _read_ahead_plan(drop, i)
        found = await s.run(_read_small, drop.folder, [drop.uids[j] for j in plan])
    except NotFound:
        found = [None]
    drop.ahead = {j: raw for j, raw in zip(plan[1:], found[1:], strict=True) if raw is not None}
    if found[0] is None:
        raise Pop3Error(f"message {i + 1} was removed by another session")
    return None, found[0]


async def _send(s: Session, number: int, lines: int | None) -> None:
    drop = s.maildrop()
    i = drop.index(number)
    f, data = await _first_chunk(s, drop, i)
    try:
        stuffer = Stuffer()
        if lines is None:
            s.ok(f"{drop.sizes[i]} octets")
            while True:
                s.conn.write(stuffer.feed(data))
                if f is None:
                    break
                await s.conn.maybe_drain()
                data = await s.run(f.read, CHUNK)
                if len(data) < CHUNK:
                    f.close()
                    f = None
        else:
            while (n := top_length(data, lines, f is None)) is None:
                assert f is not None
                more = await s.run(f.read, CHUNK)
                data += more
                if len(more) < CHUNK:
                    f.close()
                    f = None
            s.ok("top of message follows")
            s.conn.write(stuffer.feed(data[:n]))
        s.conn.write(stuffer.end())
    finally:
        if f is not None:
            f.close()


async def retr(s: Session, cmd: Message) -> None:
    await _send(s, cmd.number, None)
    s.maildrop().retrieved.add(cmd.number - 1)


async def top(s: Session, cmd: Top) -> None:
    await _send(s, cmd.number, cmd.lines)  # marks nothing


# -- the table --------------------------------------------------------------------------------

Handler = Callable[[Session, Any], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Spec:
    handler: Handler
    states: frozenset[State]


AUTHORIZATION = frozenset({State.AUTHORIZATION})
TRANSACTION = frozenset({State.TRANSACTION})
BOTH = AUTHORIZATION | TRANSACTION

COMMANDS: dict[str, Spec] = {
    "CAPA": Spec(capa, BOTH),
    "QUIT": Spec(quit_, BOTH),
    "USER": Spec(user, AUTHORIZATION),
    "PASS": Spec(pass_, AUTHORIZATION),
    "AUTH": Spec(auth, AUTHORIZATION),
    "STLS": Spec(stls, AUTHORIZATION),
    "UTF8": Spec(utf8, AUTHORIZATION),  # RFC 6856 §2: before authentication
    "LANG": Spec(lang, BOTH),
    "STAT": Spec(stat, TRANSACTION),
    "LIST": Spec(list_, TRANSACTION),
    "UIDL": Spec(uidl, TRANSACTION),
    "RETR": Spec(retr, TRANSACTION),
    "TOP": Spec(top, TRANSACTION),
    "DELE": Spec(dele, TRANSACTION),
    "NOOP": Spec(noop, TRANSACTION),
    "RSET": Spec(rset, TRANSACTION),
}
