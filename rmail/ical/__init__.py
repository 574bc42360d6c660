"""Pure iCalendar and vCard logic, no I/O: parse and validate calendar objects, expand
recurrences, compute index metadata, free-busy, alarms and iTIP (RFC 5546) messages.

The storage core (`rmail.store.calendars`) and the CalDAV front end (`rmail.web.caldav`) both use
these functions; nothing here knows about paths, locks or HTTP.
"""
