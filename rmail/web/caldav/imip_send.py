"""The CalDAV side's door to iMIP sending (kept apart so handlers stay free of mail code)."""

from rmail.scheduling.send import send_all

__all__ = ["send_all"]
