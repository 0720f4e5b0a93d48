"""Users: registration and the signed-in user's own profile."""
