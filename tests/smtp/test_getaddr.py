"""MAIL FROM/RCPT TO path parsing: rmail's fast path for ``<local@domain>`` must give exactly
what aiosmtpd's RFC 5322 parser gives, for every input (it only skips the parser when the
answer is certain). Bytes in, answer out: no sockets."""

from __future__ import annotations

import string
from collections.abc import Callable

from aiosmtpd.smtp import SMTP
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rmail.smtp.handlers import MxHandler
from rmail.smtp.protocol import RmailSMTP, reflected_names

_session = RmailSMTP.__new__(RmailSMTP)  # _getaddr reads only class attributes

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
pieces = st.sampled_from([*ATEXT[:20], ".", "@", "<", ">", " ", "\t", "(", ")", '"', "[", "]",
                          ":", ",", "\\", "é", "SIZE=100", "BODY=8BITMIME", "x.example"])


def outcome(fn: Callable[[SMTP, str], object], arg: str) -> object:
    try:
        return fn(_session, arg)
    except Exception as exc:  # the stdlib parser has crashes of its own on odd input
        return type(exc)


def both(arg: str) -> None:
    assert outcome(RmailSMTP._getaddr, arg) == outcome(SMTP._getaddr, arg), arg


@given(st.lists(pieces, max_size=14).map("".join))
@settings(max_examples=3000)
@example("<bob@example.com>")
@example("<bob@example.com> SIZE=4096 BODY=8BITMIME")
@example("  <bob@example.com>\tSIZE=1")
@example("<bob@example.com>(comment) SIZE=1")
@example("<bob@example.com> (comment) SIZE=1")
@example("<b.o.b@ex-ample.co.uk>")
@example("<bob.@example.com>")
@example("<bob..x@example.com>")
@example("<bob@example.com.>")
@example("<bob@[127.0.0.1]>")
@example('<"b o b"@example.com>')
@example("<@relay.example:bob@example.com>")
@example("<>")
@example("")
@example("bob@example.com")
def test_fast_path_agrees_with_aiosmtpd(arg: str) -> None:
    both(arg)


@given(st.text(alphabet=ATEXT + ".", min_size=1, max_size=20),
       st.text(alphabet=string.ascii_letters + string.digits + "-.", min_size=1, max_size=20),
       st.text(alphabet=" \tA=1", max_size=6))
def test_simple_paths_agree(local: str, domain: str, rest: str) -> None:
    both(f"<{local}@{domain}>{rest}")


def test_dir_lists_what_aiosmtpd_reflects_over() -> None:
    names = reflected_names(_session)
    assert {"smtp_MAIL", "smtp_RCPT", "smtp_DATA", "smtp_LHLO"} - set(names) == {"smtp_LHLO"}
    assert all(n.startswith(("smtp_", "auth_", "handle_")) for n in names)
    handler = MxHandler.__new__(MxHandler)
    assert {"handle_RCPT", "handle_DATA", "handle_EHLO", "handle_MAIL"} <= set(dir(handler))
