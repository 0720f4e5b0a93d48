"""Authentication: password login, JWT access/refresh tokens, brute-force protection."""
