"""Defences at the SIP edge: the guard against password guessing, the per-source call limit."""
