"""Named failures of the storage core.

Front ends map these to their wire replies in one place each (IMAP `NO [NONEXISTENT]`, HTTP 404,
SMTP 550 ...), so the store never knows which protocol called it.
"""


class StoreError(Exception):
    """Base class of every error the storage core raises on purpose."""


class NotFound(StoreError):
    """The named domain, user, folder, message or file does not exist."""


class AlreadyExists(StoreError):
    """Creating something whose name is taken."""


class Conflict(StoreError):
    """The operation contradicts the current state (e.g. deleting INBOX, renaming onto a child)."""


class PreconditionFailed(StoreError):
    """An If-Match / UNCHANGEDSINCE style precondition did not hold."""


class QuotaExceeded(StoreError):
    """The write would take the user over their quota."""


class UnsafeName(StoreError, ValueError):
    """A name from the outside failed validation (traversal, control characters, length...)."""


class InvalidValue(StoreError, ValueError):
    """A value failed validation (bad username, password length, quota out of range...)."""


class CorruptStore(StoreError):
    """An on-disk document cannot be read (unknown newer version, broken JSON that is not a torn
    tail). `rmail check` reports and repairs what it can."""


class StaleCache(StoreError):
    """A hot path asked for an in-memory answer that would need disk reads first; the caller
    retries the ordinary way (usually in a worker thread)."""
