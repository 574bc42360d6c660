"""Small inline SVG icons for the webmail's few pictograms.

Emoji would be shorter, but whether they draw depends on the reader's fonts: Debian's
Chromium without an emoji font (the browser the tests drive, and many a minimal desktop)
shows an empty box. Inline SVG draws everywhere, takes the text colour (`currentColor`) and
scales with the text (1em), and needs no extra request. Each icon is `aria-hidden`: the
link or button around it carries the accessible name.
"""

from __future__ import annotations

from markupsafe import Markup

__all__ = ["ICONS", "icon"]

_PATHS = {
    # a chain link: shared links
    "link": '<path d="M6.5 9.5l3-3"/><path d="M7 4.5l1-1a2.8 2.8 0 0 1 4 4l-1 1"/>'
            '<path d="M9 11.5l-1 1a2.8 2.8 0 0 1-4-4l1-1"/>',
    # a folder: folder upload
    "folder": '<path d="M1.5 4.5v8h13v-6.5h-7l-1.5-1.5h-4.5z"/>',
    # a paper clip: attachments
    "clip": '<path d="M10.5 5l-4.2 4.2a1.2 1.2 0 0 0 1.7 1.7l4.6-4.6a2.4 2.4 0 0 0-3.4-3.4'
            'l-4.8 4.8a3.6 3.6 0 0 0 5.1 5.1l3.5-3.5"/>',
    # a five-pointed star: the flag; filled by CSS (`.flagged`), so a live update only
    # toggles a class
    "star": '<path d="M8 1.6l1.9 4.1 4.5.5-3.4 3 1 4.4L8 11.3l-3.9 2.3 1-4.4-3.4-3 4.5-.5z"/>',
    # a calendar page: invitations
    "calendar": '<rect x="2" y="3" width="12" height="11" rx="1.5"/><path d="M2 6.5h12"/>'
                '<path d="M5 1.5v3M11 1.5v3"/>',
}

_SVG = ('<svg class="icon icon-{name}" viewBox="0 0 16 16" width="1em" height="1em" '
        'fill="none" stroke="currentColor" stroke-width="1.5" stroke-linecap="round" '
        'stroke-linejoin="round" aria-hidden="true" focusable="false">{paths}</svg>')

ICONS: dict[str, Markup] = {name: Markup(_SVG.format(name=name, paths=paths))
                            for name, paths in _PATHS.items()}


def icon(name: str) -> Markup:
    """The named icon's markup (a KeyError for an unknown name: a template typo)."""
    return ICONS[name]
