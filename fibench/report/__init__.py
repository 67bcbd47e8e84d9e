"""For people: Markdown reports, console tables and number formatting (pure; rows are
never mutated)."""
