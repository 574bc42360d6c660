"""Message parsing: raw RFC 5322/MIME bytes in, JSON-ready structure with byte offsets out.

`parse.parse_message` runs once at delivery; IMAP and the web front ends then work from its
result and byte ranges of the stored file, never re-parsing the message.
"""
