"""Meta's rules as data: pure functions and tables, no I/O (messages, regions, phones, errors, creative)."""
