"""Run as a script (its own process, so no test package can shadow the `caldav` library):
``python caldav_login.py URL USER PASSWORD`` prints {"calendars": N} after a PROPFIND walk,
or {"error": "..."} when the server refuses the credentials."""

from __future__ import annotations

import json
import sys


def main() -> None:
    import caldav  # the PyPI client library
    from caldav.lib.error import AuthorizationError

    url, user, password = sys.argv[1:4]
    try:
        with caldav.DAVClient(url, username=user, password=password, timeout=60) as client:
            calendars = client.principal().calendars()
        print(json.dumps({"calendars": len(calendars)}))
    except AuthorizationError as exc:
        print(json.dumps({"error": type(exc).__name__}))


if __name__ == "__main__":
    main()
