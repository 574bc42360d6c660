"""IMAP4rev1/IMAP4rev2 server: framing and the command table in `server.py`, the grammar in
`parser/` (bytes in, typed commands out), per-connection state in `session.py`, the command
handlers in `commands/`. Registered with the server as the `imap` and `imaps` listeners."""
