"""REPORT bodies, one module per report (RFC 4791 §7, RFC 6352 §8, RFC 6578 §3): each parses
its request into a typed object and builds its multistatus with pure functions; the
`rmail.web.caldav.report` handler dispatches on the body's root element."""
