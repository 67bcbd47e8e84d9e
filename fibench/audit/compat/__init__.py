"""fibench audit compat."""
