"""Getting a message to another server: where to connect (static route, smarthost, or the
domain's MX hosts from DNS) and the SMTP client conversation (stdlib `smtplib`, run in a
worker thread).

Routing order: ``relay.routes[domain]``, then ``relay.smarthost``, then MX records (RFC 5321
§5.1: by preference, random among equals; no MX record means the domain's own A/AAAA; a null
MX, RFC 7505, means the domain accepts no mail).

TLS: ``opportunistic`` uses STARTTLS when offered, without verifying the certificate (it
protects against passive eavesdropping, as for MTA-to-MTA mail in general), and falls back to
plaintext on the same host when the handshake fails; ``starttls`` and ``implicit`` require TLS
and verify the certificate; ``none`` never uses TLS.
"""

from __future__ import annotations

import logging
import random
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rmail.config import Config, RelayHost
from rmail.delivery.replies import Reply, parse_reply

__all__ = ["Hop", "Transport"]

log = logging.getLogger(__name__)

DNS_LIFETIME = 30.0


@dataclass(frozen=True, slots=True)
class Hop:
    """One server to try."""

    host: str
    port: int = 25
    tls: str = "opportunistic"
    username: str | None = None
    password: str | None = None

    @classmethod
    def of(cls, relay: RelayHost) -> Hop:
        assert relay.host is not None
        return cls(relay.host, relay.port, relay.tls, relay.username, relay.password)


class _HopFailed(Exception):
    """This server could not take the message at all: try the next one."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(str(reply))
        self.reply = reply


def _temporary(reply: Reply) -> Reply:
    """A failure before any recipient was answered is retried, even if it looked permanent
    (a misconfigured relay should not bounce everyone's mail at once)."""
    if reply.temporary:
        return reply
    return Reply(451, "4.4.0", f"Remote server said: {reply}")


def _needs_smtputf8(mail_from: str, recipients: Sequence[str]) -> bool:
    return not all(a.isascii() for a in (mail_from, *recipients))


class Transport:
    """Routes and sends; one per queue."""

    def __init__(self, config: Config, *, resolver: Any = None) -> None:
        self.config = config
        self.helo = config.hostname
        self.timeout = float(config.queue.timeout)
        self._resolver = resolver

    # -- routing -----------------------------------------------------------------------------
    async def hops(self, domain: str) -> list[Hop] | Reply:
        """Servers to try for ``domain``, in order, or the failure that prevents sending."""
        relay = self.config.relay
        route = relay.routes.get(domain)
        if route is not None:
            return [Hop.of(route)]
        if relay.smarthost is not None:
            return [Hop.of(relay.smarthost)]
        hosts = await self.mx_hosts(domain)
        if isinstance(hosts, Reply):
            return hosts
        return [Hop(h) for h in hosts]

    def _get_resolver(self) -> Any:
        if self._resolver is None:
            import dns.asyncresolver

            self._resolver = dns.asyncresolver.Resolver()
            self._resolver.lifetime = DNS_LIFETIME
        return self._resolver

    async def mx_hosts(self, domain: str) -> list[str] | Reply:
        """MX host names by preference (RFC 5321 §5.1), or a Reply saying why there are none."""
        import dns.exception
        import dns.resolver

        try:
            resolver = self._get_resolver()
            answer = await resolver.resolve(domain, "MX")
        except dns.resolver.NXDOMAIN:
            return Reply(550, "5.1.2", f"Domain {domain} does not exist")
        except dns.resolver.NoAnswer:
            return await self._implicit_mx(domain)
        except (dns.exception.DNSException, OSError) as exc:
            return Reply(451, "4.4.3", f"DNS lookup of MX for {domain} failed: {exc}")
        records = [(int(r.preference), str(r.exchange).rstrip(".")) for r in answer]
        if len(records) == 1 and records[0][1] in ("", "."):
            return Reply(556, "5.1.10", f"Domain {domain} does not accept mail (null MX)")
        by_pref: dict[int, list[str]] = {}
        for pref, host in records:
            if host:
                by_pref.setdefault(pref, []).append(host)
        hosts: list[str] = []
        for pref in sorted(by_pref):
            group = by_pref[pref]
            random.shuffle(group)
            hosts += group
        return hosts or Reply(550, "5.1.2", f"Domain {domain} has no usable MX host")

    async def _implicit_mx(self, domain: str) -> list[str] | Reply:
        """RFC 5321 §5.1: without MX records, the domain itself is the mail host."""
        import dns.exception
        import dns.resolver

        resolver = self._get_resolver()
        for rdtype in ("AAAA", "A"):
            try:
                await resolver.resolve(domain, rdtype)
                return [domain]
            except dns.resolver.NoAnswer:
                continue
            except dns.resolver.NXDOMAIN:
                return Reply(550, "5.1.2", f"Domain {domain} does not exist")
            except (dns.exception.DNSException, OSError) as exc:
                return Reply(451, "4.4.3", f"DNS lookup of {domain} failed: {exc}")
        return Reply(550, "5.1.2", f"Domain {domain} has no MX or address records")

    # -- sending (blocking: call from a worker thread) ----------------------------------------
    def send(self, hops: Sequence[Hop], mail_from: str, recipients: Sequence[str],
             data: bytes) -> tuple[dict[str, Reply], str | None]:
        """Try the hops in order until one answers; returns a reply per recipient and the
        host that gave them (None when no server could be reached)."""
        last = Reply(451, "4.4.1", "No mail server for the domain could be reached")
        for hop in hops:
            try:
                return self._send_hop(hop, mail_from, recipients, data), hop.host
            except _HopFailed as exc:
                log.info("%s:%d: %s", hop.host, hop.port, exc.reply)
                last = exc.reply
        return {r: last for r in recipients}, None

    def _context(self, verify: bool) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self, hop: Hop) -> smtplib.SMTP:
        # Connecting in the constructor also records the host name that STARTTLS verifies.
        try:
            if hop.tls == "implicit":
                return smtplib.SMTP_SSL(hop.host, hop.port, local_hostname=self.helo,
                                        timeout=self.timeout, context=self._context(True))
            return smtplib.SMTP(hop.host, hop.port, local_hostname=self.helo,
                                timeout=self.timeout)
        except smtplib.SMTPConnectError as exc:  # a greeting other than 220
            raise _HopFailed(_temporary(parse_reply(exc.smtp_code, exc.smtp_error))) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise _HopFailed(Reply(451, "4.4.1", f"Cannot connect to {hop.host}: {exc}")) \
                from None

    def _greet(self, smtp: smtplib.SMTP) -> None:
        code, msg = smtp.ehlo()
        if code != 250:
            code, msg = smtp.helo()
            if code != 250:
                raise _HopFailed(_temporary(parse_reply(code, msg)))

    def _open(self, hop: Hop, *, plaintext: bool = False) -> smtplib.SMTP:
        """Connected, greeted, TLS as the hop wants it, authenticated."""
        smtp = self._connect(hop)
        try:
            self._greet(smtp)
            if hop.tls in ("starttls", "opportunistic") and not plaintext:
                if smtp.has_extn("starttls"):
                    try:
                        code, msg = smtp.starttls(context=self._context(hop.tls == "starttls"))
                        if code != 220:
                            raise smtplib.SMTPResponseException(code, msg)
                        self._greet(smtp)
                    except (ssl.SSLError, smtplib.SMTPException, OSError) as exc:
                        smtp.close()
                        if hop.tls == "opportunistic":
                            log.info("%s: STARTTLS failed (%s); retrying without TLS",
                                     hop.host, exc)
                            return self._open(hop, plaintext=True)
                        raise _HopFailed(Reply(451, "4.7.5", f"TLS with {hop.host} failed: "
                                                             f"{exc}")) from None
                elif hop.tls == "starttls":
                    raise _HopFailed(Reply(451, "4.7.4", f"{hop.host} does not offer STARTTLS"))
            if hop.username is not None and hop.password is not None:
                try:
                    smtp.login(hop.username, hop.password)
                except smtplib.SMTPAuthenticationError as exc:
                    raise _HopFailed(Reply(451, "4.7.8", f"Authentication to {hop.host} "
                                                         f"failed: {exc.smtp_code}")) from None
        except _HopFailed:
            smtp.close()
            raise
        except (OSError, smtplib.SMTPException) as exc:
            smtp.close()
            raise _HopFailed(Reply(451, "4.4.2", f"{hop.host}: {exc}")) from None
        return smtp

    def _send_hop(self, hop: Hop, mail_from: str, recipients: Sequence[str],
                  data: bytes) -> dict[str, Reply]:
        smtp = self._open(hop)
        replies: dict[str, Reply] = {}
        try:
            options = []
            if smtp.has_extn("size"):
                options.append(f"SIZE={len(data)}")
            if smtp.has_extn("8bitmime") and not data.isascii():
                options.append("BODY=8BITMIME")
            if _needs_smtputf8(mail_from, recipients):
                if not smtp.has_extn("smtputf8"):
                    refusal = Reply(553, "5.6.7", f"{hop.host} does not support SMTPUTF8 "
                                                  "for internationalised addresses")
                    return {r: refusal for r in recipients}
                options.append("SMTPUTF8")
            code, msg = smtp.mail(mail_from, options)
            if code != 250:
                reply = parse_reply(code, msg)
                if code in (421,) or not reply.permanent:
                    raise _HopFailed(_temporary(reply))
                return {r: reply for r in recipients}
            accepted = []
            for rcpt in recipients:
                code, msg = smtp.rcpt(rcpt)
                replies[rcpt] = parse_reply(code, msg)
                if code in (250, 251):
                    accepted.append(rcpt)
                elif code == 421:  # the server is closing: the rest are not answered
                    break
            for rcpt in recipients:
                replies.setdefault(rcpt, Reply(451, "4.4.2", f"{hop.host} closed the "
                                                             "connection"))
            if not accepted:
                return replies
            try:
                code, msg = smtp.data(data)
                final = parse_reply(code, msg)
            except smtplib.SMTPDataError as exc:
                final = parse_reply(exc.smtp_code, exc.smtp_error)
            for rcpt in accepted:
                replies[rcpt] = final
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
            return replies
        except (OSError, smtplib.SMTPException) as exc:
            if not replies:
                raise _HopFailed(Reply(451, "4.4.2", f"{hop.host}: {exc}")) from None
            lost = Reply(451, "4.4.2", f"Connection to {hop.host} lost: {exc}")
            return {r: (lost if replies.get(r, lost).ok else replies.get(r, lost))
                    for r in recipients}
        finally:
            smtp.close()
