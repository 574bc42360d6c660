"""Tests of rmail.mail: the message parser."""
