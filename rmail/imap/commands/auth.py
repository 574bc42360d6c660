"""Commands of any state and of the not-authenticated state: CAPABILITY, NOOP, LOGOUT,
STARTTLS, LOGIN, AUTHENTICATE (PLAIN, LOGIN, SASL-IR), ID, ENABLE, COMPRESS, NAMESPACE."""

from __future__ import annotations

import base64

from rmail import __version__
from rmail.auth import AuthError, LoginInfo, Principal
from rmail.auth.sasl import SaslError, decode_plain, decode_text
from rmail.imap import responses as r
from rmail.imap.commands.base import Done
from rmail.imap.connection import LineTooLong
from rmail.imap.errors import ImapBad, ImapBye, ImapNo
from rmail.imap.session import ENABLEABLE, Session, State
from rmail.imap.syntax import Authenticate, Compress, Enable, Id, Login, NoArgs

MAX_SASL_LINE = 8 * 1024


async def capability(s: Session, _: NoArgs) -> Done:
    s.untagged(b"CAPABILITY " + " ".join(s.capabilities()).encode())
    return Done()


async def noop(s: Session, _: NoArgs) -> Done:
    return Done()


async def logout(s: Session, _: NoArgs) -> Done:
    s.untagged(b"BYE logging out")
    s.deselect()
    s.state = State.LOGOUT
    return Done()


async def starttls(s: Session, _: NoArgs) -> Done:
    if s.conn.tls:
        raise ImapBad("TLS is already active")
    if not s.starttls_offered:
        raise ImapBad("STARTTLS is not offered on this port")

    async def upgrade() -> None:
        await s.conn.start_tls(s.ssl_context)

    return Done("Begin TLS negotiation now", after=upgrade)


def _require_privacy(s: Session) -> None:
    if not s.login_allowed():
        raise ImapNo("plaintext login is disabled; use STARTTLS first", "PRIVACYREQUIRED")


async def _check(s: Session, user: str, password: str) -> Principal:
    try:
        return await s.core.auth.authenticate(user, password, ip=s.peer_ip, scope="imap",
                                              info=LoginInfo("imap", s.client_name))
    except AuthError as exc:
        if exc.reason == "locked":
            raise ImapNo("too many failed logins; try again later", "UNAVAILABLE") from None
        if exc.reason in ("2fa", "scope"):
            raise ImapNo(str(exc), "AUTHENTICATIONFAILED") from None
        raise ImapNo("invalid credentials", "AUTHENTICATIONFAILED") from None


async def _logged_in(s: Session, principal: Principal) -> Done:
    s.principal = principal
    s.mailbox = await s.run(s.core.mail.mailbox, principal.domain, principal.username)
    # Events only wake IDLE (what changed is read from the index), so a short queue will do.
    s.sub = s.core.events.subscribe(principal.domain, principal.username, maxsize=64)
    s.state = State.AUTHENTICATED
    return Done("Logged in", "CAPABILITY " + " ".join(s.capabilities()))


async def login(s: Session, args: Login) -> Done:
    _require_privacy(s)
    return await _logged_in(s, await _check(s, args.user, args.password))


async def _challenge(s: Session, prompt: bytes) -> bytes:
    s.conn.write(b"+ " + base64.b64encode(prompt) + b"\r\n")
    await s.conn.flush()
    try:
        line = await s.conn.read_line(MAX_SASL_LINE)
    except LineTooLong:
        raise ImapBye("SASL response too long") from None
    if line == b"*":
        raise ImapBad("AUTHENTICATE cancelled")
    return line


async def authenticate(s: Session, args: Authenticate) -> Done:
    _require_privacy(s)
    mech = args.mechanism
    try:
        if mech == "PLAIN":
            data = args.initial if args.initial is not None else await _challenge(s, b"")
            authzid, user, password = decode_plain(data)
            if authzid and authzid != user:
                raise ImapNo("acting as another user is not supported", "AUTHORIZATIONFAILED")
        elif mech == "LOGIN":
            if args.initial:
                user = decode_text(args.initial)
            else:
                user = decode_text(await _challenge(s, b"Username:"))
            password = decode_text(await _challenge(s, b"Password:"))
        else:
            raise ImapNo(f"unsupported mechanism {mech}", "CANNOT")
    except SaslError as exc:
        raise ImapBad(f"malformed SASL response: {exc}") from None
    return await _logged_in(s, await _check(s, user, password))


async def id_(s: Session, args: Id) -> Done:
    for key, value in args.params or ():
        if key.lower() == "name" and value:
            s.client_name = " ".join(value.split())[:100]
    s.untagged(b'ID ("name" "rmail" "version" ' + r.string(__version__) + b")")
    return Done()


async def enable(s: Session, args: Enable) -> Done:
    newly = []
    for cap in args.capabilities:
        if cap in ENABLEABLE and cap not in s.enabled:
            s.enabled.add(cap)
            newly.append("IMAP4rev2" if cap == "IMAP4REV2" else cap)
            if cap == "QRESYNC":  # RFC 7162 §3.2.3: QRESYNC implies CONDSTORE
                s.enabled.add("CONDSTORE")
    s.untagged(b"ENABLED" + b"".join(b" " + c.encode() for c in newly))
    return Done()


async def compress(s: Session, args: Compress) -> Done:
    if s.conn.compressed:
        raise ImapNo("compression is already active", "COMPRESSIONACTIVE")
    if args.mechanism != "DEFLATE":
        raise ImapNo(f"unknown compression mechanism {args.mechanism}", "CANNOT")

    async def start() -> None:
        s.conn.start_compression()

    return Done("DEFLATE active", after=start)


async def namespace(s: Session, _: NoArgs) -> Done:
    s.untagged(b'NAMESPACE (("" "/")) NIL NIL')
    return Done()
