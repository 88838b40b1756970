"""Pages for shift managers (the supervisor role)."""
