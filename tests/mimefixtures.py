"""The shared MIME fixtures (`../shared/fixtures/mime` beside the repository, or the machine's
`/work/shared/fixtures/mime` from a worktree); tests that need them skip with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

__all__ = ["MIME_FIXTURES", "needs_mime_fixtures"]

MIME_FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "mime"
if not MIME_FIXTURES.is_dir():
    MIME_FIXTURES = Path("/work/shared/fixtures/mime")
needs_mime_fixtures = pytest.mark.skipif(
    not MIME_FIXTURES.is_dir(), reason=f"shared MIME fixtures not found at {MIME_FIXTURES}")
