"""`rmail queue list|retry|delete` and `rmail dkim generate|show` on a real spool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rmail.cli import main
from rmail.queue.spool import Leg, QueuedMessage, RecipientState, Spool, new_queue_id
from rmail.store.layout import Layout


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"hostname": "mx.example.com", "mail_root": "store",
                                "domains": ["example.com"]}))
    return path


def queue_one(root: Path, rcpt: str = "carol@remote.test") -> str:
    spool = Spool(Layout(root))
    qid = new_queue_id()
    leg = Leg("remote.test", [RecipientState(rcpt)], next_attempt=4_000_000_000.0, attempts=3,
              last_error="451 4.3.0 busy")
    spool.create(b"Subject: x\r\n\r\nbody\r\n",
                 QueuedMessage(qid, "bob@example.com", 1.0, 4_100_000_000.0, 20, [leg]))
    return qid


def run(config_file: Path, *args: str) -> int:
    return main(["--config", str(config_file), *args])


def test_list_retry_delete(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = config_file.parent / "store"
    first, second = queue_one(root), queue_one(root, "dave@remote.test")
    assert run(config_file, "queue", "list") == 0
    out = capsys.readouterr().out
    assert first in out and second in out and "carol@remote.test  pending" in out
    assert "2 message(s) queued" in out

    assert run(config_file, "queue", "retry", first) == 0
    spool = Spool(Layout(root))
    assert spool.load(first).legs[0].next_attempt == 0.0  # type: ignore[union-attr]
    assert spool.load(second).legs[0].next_attempt > 0  # type: ignore[union-attr]
    assert run(config_file, "queue", "retry") == 0
    assert "2 message(s)" in capsys.readouterr().out

    assert run(config_file, "queue", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [m["id"] for m in listed] == [first, second]
    assert listed[0]["legs"][0]["last_error"] == "451 4.3.0 busy"

    assert run(config_file, "queue", "delete", first) == 0
    assert spool.ids() == [second]
    assert not Layout(root).queue_message(first).exists()
    assert run(config_file, "queue", "delete", "--all") == 0
    assert spool.ids() == []


def test_bad_input(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config_file, "queue", "delete", "../etc/passwd") == 1
    assert "not a queue id" in capsys.readouterr().err
    assert run(config_file, "queue", "delete", "0" * 22) == 1
    assert "no queued message" in capsys.readouterr().err
    assert run(config_file, "queue", "delete") == 1
    assert run(config_file, "queue", "retry", "f" * 22) == 1
    assert run(config_file, "dkim", "generate", "unknown.example") == 1
    assert run(config_file, "dkim", "show", "example.com") == 1
    assert "no DKIM key" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run(config_file, "dkim", "generate", "example.com", "--bits", "512")


def test_dkim_generate_and_show(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config_file, "dkim", "generate", "example.com", "--bits", "1024") == 0
    out = capsys.readouterr().out
    assert "secrets/dkim/example.com/rmail.pem" in out
    record = out.splitlines()[-1]
    assert record.startswith('rmail._domainkey.example.com. IN TXT ( "v=DKIM1; k=rsa; p=')
    assert run(config_file, "dkim", "show", "example.com") == 0
    assert capsys.readouterr().out.strip() == record
