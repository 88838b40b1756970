"""Test support, not product: the pjsua2 test phones (phones.py, driven in child processes by
phone_process.py), a whole hotline in a folder (stack.py), waiting and calling (calls.py) and
tone making and analysis (audio.py). Used by tests/ (pytest's `pythonpath = ["tests"]`) and by
bench/ (which put tests/ on sys.path). Only phones.py imports pjsua2, and only the e2e fixtures
and the benchmarks import phones.py (through phone_process), so the unit tier collects without it."""
