"""fibench audit skips."""
