"""CPU of the parse every append runs (issue 14): microseconds per `parse_meta` (parse_message
plus the JSON dump) for the store benchmark's 4 KB text/plain message, a multipart/alternative
mail, a mail with a PDF attachment and the shared MIME fixtures; the median of several rounds
of this process's CPU time, with the load average.

`--against DIR` times the checkout at DIR as well, in the same process and in alternating
rounds (so both see the same load), and prints the ratio: DIR/rmail is imported and bound
first, then this checkout's.

    .venv/bin/python bench/parse.py [--rounds N] [--against DIR] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

Parse = Callable[[bytes], bytes]

ALTERNATIVE = (
    b'From: "Carol Q" <carol@example.org>\r\nTo: dave@example.net, Erin <erin@example.net>\r\n'
    b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= and lunch\r\n"
    b"Date: Tue, 14 Nov 2023 09:12:33 +0100\r\nMessage-ID: <abc.123@example.org>\r\n"
    b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="b1"\r\n\r\n'
    b'--b1\r\nContent-Type: text/plain; charset="utf-8"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    + b"Hello there, see you at noon. =C3=BC\r\n" * 30
    + b'--b1\r\nContent-Type: text/html; charset="utf-8"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    + b"<p>Hello there, see you at noon.</p>\r\n" * 30 + b"--b1--\r\n"
)
ATTACHMENT = (
    b"From: Frank <frank@example.com>\r\nTo: Grace <grace@example.com>\r\nCc: h@example.com\r\n"
    b"Subject: Re: report\r\nDate: Wed, 15 Nov 2023 17:01:02 -0500\r\n"
    b"Message-ID: <x1@example.com>\r\nIn-Reply-To: <x0@example.com>\r\n"
    b"References: <xa@example.com>\r\n <x0@example.com>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="mix"\r\n\r\n'
    b"--mix\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n"
    b'--mix\r\nContent-Type: application/pdf; name="report.pdf"\r\n'
    b'Content-Disposition: attachment; filename="report.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\n"
    + b"JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0ZURlY29kZT4+\r\n"
    * 60 + b"--mix--\r\n"
)
FIXTURES = [REPO.parent / "shared" / "fixtures" / "mime", Path("/work/shared/fixtures/mime")]


def parser_of(checkout: Path) -> Parse:
    """`parse_meta`'s work (parse_message, then dump_json) bound to the rmail of `checkout`;
    the rmail modules are dropped from sys.modules afterwards so another checkout can load."""
    for name in [n for n in sys.modules if n == "rmail" or n.startswith("rmail.")]:
        del sys.modules[name]
    sys.path.insert(0, str(checkout))
    try:
        from rmail.mail.parse import parse_message
        from rmail.store.fsutil import dump_json
    finally:
        sys.path.remove(str(checkout))
        for name in [n for n in sys.modules if n == "rmail" or n.startswith("rmail.")]:
            del sys.modules[name]
    if not parse_message.__code__.co_filename.startswith(str(checkout.resolve())):
        raise SystemExit(f"{checkout}: imported rmail from {parse_message.__code__.co_filename}")
    return lambda raw: dump_json(parse_message(raw))


def cpu_us(parse: Parse, raws: list[bytes], repeat: int) -> float:
    """CPU microseconds per parse over `repeat` passes through `raws`."""
    start = time.process_time()
    for _ in range(repeat):
        for raw in raws:
            parse(raw)
    return (time.process_time() - start) / repeat / len(raws) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7, help="rounds per figure (median taken)")
    ap.add_argument("--against", type=Path, help="another checkout to time alongside")
    ap.add_argument("--smoke", action="store_true", help="tiny run: does it still work")
    args = ap.parse_args()
    rounds, scale = (1, 0.01) if args.smoke else (args.rounds, 1.0)
    sys.path.insert(0, str(REPO))
    from bench.common import load, say
    from bench.store import make_message

    checkouts = [("this", REPO)] + ([("against", args.against)] if args.against else [])
    parsers = {label: parser_of(path) for label, path in reversed(checkouts)}
    cases: list[tuple[str, list[bytes], int]] = [
        ("store bench 4 KB text/plain", [make_message(1)], 2000),
        ("multipart/alternative", [ALTERNATIVE], 1000),
        ("text + PDF attachment", [ATTACHMENT], 1000),
    ]
    folder = next((f for f in FIXTURES if f.is_dir()), None)
    if folder is not None:
        files = [p.read_bytes() for p in sorted(folder.glob("*.eml"))]
        cases.append((f"MIME fixtures ({len(files)}, mean)", files, 20))
    else:
        say(f"(shared MIME fixtures not found in {FIXTURES}: that line is left out)")
    if args.against:
        reference = parsers["against"]
        for _label, raws, _n in cases:
            for raw in raws:
                if parsers["this"](raw) != reference(raw):
                    raise SystemExit("the two checkouts write different records")
    say(f"parse_meta CPU per message, median of {rounds} rounds (load {load()})")
    for label, raws, n in cases:
        repeat = max(1, int(n * scale))
        times: dict[str, list[float]] = {name: [] for name in parsers}
        for _ in range(rounds):
            for name, parse in parsers.items():
                times[name].append(cpu_us(parse, raws, repeat))
        this = statistics.median(times["this"])
        line = f"{label}: {this:.1f} us"
        if args.against:
            other = statistics.median(times["against"])
            line += f", against {other:.1f} us: {other / this:.2f}x"
        say(line)
    say(f"(load {load()}) Command: `{' '.join([Path(sys.executable).name, *sys.argv])}`")


if __name__ == "__main__":
    main()
