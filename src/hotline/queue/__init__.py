"""Skills, the operator roster, routing and the 15-second deadline, service level."""
