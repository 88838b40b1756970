"""Web users, roles, password hashes and sessions."""
