"""hotline: a 12345-style citizen-service hotline on Asterisk 22."""

__version__ = "0.1.0"
