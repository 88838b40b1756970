"""The database (adapters): one SQLite file, its writer thread and read pool, its transactions and
its numbered migrations. Nothing here knows an aggregate: the repositories (cases/store.py,
auth/user_store.py, cases/audit_store.py, ...) take a ``Database`` and hold their own SQL."""
