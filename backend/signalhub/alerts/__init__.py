"""Per-user alert rules: which signals to hear about, on which channels, and when."""
