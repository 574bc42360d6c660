"""The tiles of a grid page as HTML, built in Python: a page has up to `PAGE_SIZE` tiles and
the template engine's per-expression cost made them most of the page's time. Same markup the
manual's selectors name (`.tile-wrap[data-path][data-type][data-kind]`, `.tile-dir` /
`.tile-file`, `.tile-name`, `.tile-meta`, `input.row-check`, `.action-delete`, `.action-share`,
`.action-rename`); every value is escaped here, and the result is marked safe for the template.
"""

from __future__ import annotations

from html import escape

from markupsafe import Markup

from rmail.web.webmail.drive.links import quote_rel
from rmail.web.webmail.drive.model import Grid, Tile
from rmail.web.webmail.format import filesize
from rmail.web.webmail.icons import ICONS

__all__ = ["tiles_html"]


def tiles_html(g: Grid, base_url: str, *, select: bool, delete: bool, owner: bool,
               when: dict[str, tuple[str, str]], icons: dict[str, str]) -> Markup:
    """`base_url`: the absolute URL of the view's root, without a trailing `/`; `icons`: the
    absolute URL of each kind's icon."""
    out = []
    for t in g.tiles:
        out.append(_tile(t, base_url, select, delete, owner, when.get(t.rel, ("", "")),
                         icons[t.kind]))
    return Markup("".join(out))


def _tile(t: Tile, base: str, select: bool, delete: bool, owner: bool,
          moment: tuple[str, str], icon: str) -> str:
    rel = escape(t.rel)
    name = escape(t.name)
    href = escape(f"{base}/{quote_rel(t.rel)}")
    cls = "tile-dir" if t.is_dir else "tile-file"
    parts = [f'<div class="tile-wrap {cls}" data-path="{rel}" data-type="{t.type}" '
             f'data-kind="{t.kind}">']
    if select:
        parts.append(f'<input class="row-check" type="checkbox" form="drive-bulk-delete" '
                     f'name="path" value="{rel}" aria-label="Select {name}">')
    download = "" if t.is_dir or t.inline else f' download="{name}"'
    parts.append(f'<a class="tile-link" href="{href}"{download}>')
    if t.thumb:
        parts.append(f'<img class="tile-thumb" src="{href}" alt="" loading="lazy">')
    else:
        parts.append(f'<img class="tile-icon kind-{t.kind}" src="{escape(icon)}" alt="" '
                     'width="48" height="48">')
    parts.append(f'<span class="tile-name">{name}</span></a><span class="tile-meta">')
    if not t.is_dir:
        parts.append(f'<span class="tile-size" data-bytes="{t.size}">{filesize(t.size)}'
                     '</span> · ')
    parts.append(f'<time class="tile-mtime" datetime="{moment[0]}">{escape(moment[1])}</time>'
                 '</span><span class="tile-actions">')
    if owner:
        parts.append(f'<a class="action-share" href="{href}/_share" title="Share {name}" '
                     f'aria-label="Share {name}">{ICONS["link"]}</a><a class="action-rename" '
                     f'href="{href}/_rename" title="Rename or move {name}" '
                     f'aria-label="Rename {name}">✎</a>')
    if delete:
        parts.append(f'<button class="action-delete" type="submit" form="drive-delete-one" '
                     f'name="path" value="{rel}" title="Delete {name}" '
                     f'aria-label="Delete {name}">×</button>')
    parts.append("</span></div>\n")
    return "".join(parts)
