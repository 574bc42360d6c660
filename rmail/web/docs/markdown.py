"""A small, safe Markdown renderer for rmail's own documentation pages.

Supports what the pages use: ATX headings, paragraphs, fenced code, `-`/`1.` lists, pipe
tables, inline code, **bold** and links. Every piece of text is HTML-escaped; link targets
are kept only when relative or http(s)/mailto, so even a hostile page renders inert.
"""

from __future__ import annotations

import html
import re

_INLINE = re.compile(r"`([^`]+)`|\*\*(.+?)\*\*|\[([^\]]+)\]\(([^)\s]+)\)")
_HEADING = re.compile(r"(#{1,6})\s+(.*?)\s*#*\s*$")
_ORDERED = re.compile(r"\d+\.\s+")
_SAFE_URL = re.compile(r"(/|#|\./|https?://|mailto:)", re.IGNORECASE)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def inline(text: str) -> str:
    out: list[str] = []
    pos = 0
    for m in _INLINE.finditer(text):
        out.append(html.escape(text[pos:m.start()]))
        code, bold, label, url = m.groups()
        if code is not None:
            out.append(f"<code>{html.escape(code)}</code>")
        elif bold is not None:
            out.append(f"<strong>{inline(bold)}</strong>")
        elif _SAFE_URL.match(url):
            out.append(f'<a href="{html.escape(url, quote=True)}">{inline(label)}</a>')
        else:
            out.append(inline(label))
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _is_table_rule(line: str) -> bool:
    return bool(re.fullmatch(r"\s*\|?(\s*:?-+:?\s*\|)*\s*:?-+:?\s*\|?\s*", line))


def render(text: str) -> str:
    """Markdown source -> an HTML fragment."""
    lines = text.replace("\r\n", "\n").split("\n")
    out: list[str] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
        elif stripped.startswith("```"):
            lang = stripped[3:].strip()
            body: list[str] = []
            i += 1
            while i < n and not lines[i].strip().startswith("```"):
                body.append(lines[i])
                i += 1
            i += 1
            cls = f' class="language-{html.escape(slug(lang))}"' if lang else ""
            out.append(f"<pre><code{cls}>{html.escape(chr(10).join(body))}</code></pre>")
        elif m := _HEADING.match(stripped):
            level = len(m.group(1))
            title = m.group(2)
            out.append(f'<h{level} id="{slug(title)}">{inline(title)}</h{level}>')
            i += 1
        elif stripped.startswith("|") and i + 1 < n and _is_table_rule(lines[i + 1]):
            head = _cells(stripped)
            rows: list[list[str]] = []
            i += 2
            while i < n and lines[i].strip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            th = "".join(f"<th>{inline(c)}</th>" for c in head)
            trs = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in row) + "</tr>"
                          for row in rows)
            out.append(f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>")
        elif stripped.startswith(("- ", "* ")) or _ORDERED.match(stripped):
            ordered = bool(_ORDERED.match(stripped))
            items: list[str] = []
            while i < n and lines[i].strip():
                item = lines[i].strip()
                marker = _ORDERED.match(item) if ordered else None
                if ordered and marker:
                    items.append(item[marker.end():])
                elif not ordered and item.startswith(("- ", "* ")):
                    items.append(item[2:])
                elif items:  # continuation line
                    items[-1] += " " + item
                else:
                    break
                i += 1
            tag = "ol" if ordered else "ul"
            out.append(f"<{tag}>" + "".join(f"<li>{inline(it)}</li>" for it in items)
                       + f"</{tag}>")
        else:
            para: list[str] = []
            while i < n and lines[i].strip() and not _starts_block(lines, i):
                para.append(lines[i].strip())
                i += 1
            out.append(f"<p>{inline(' '.join(para))}</p>")
    return "\n".join(out)


def _starts_block(lines: list[str], i: int) -> bool:
    s = lines[i].strip()
    if s.startswith(("```", "#", "- ", "* ")) or _ORDERED.match(s):
        return True
    return s.startswith("|") and i + 1 < len(lines) and _is_table_rule(lines[i + 1])
