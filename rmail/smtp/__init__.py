"""SMTP front end: aiosmtpd handlers for MX, submission and LMTP (`handlers`), the session
protocol (`protocol`), the listeners (`listener`) and reply codes (`replies`)."""
