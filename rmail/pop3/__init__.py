"""POP3 front end (RFC 1939, 2449, 2595, 5034) with WildDuck's semantics: changes at QUIT,
DELE moves to Trash. `parser` (bytes to typed commands), `session` (state and the maildrop
view), `commands` (handlers and the state table), `server` (the connection loop), `listener`
(the `pop3` and `pop3s` listeners)."""
