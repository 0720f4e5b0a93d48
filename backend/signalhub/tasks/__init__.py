"""Status of background jobs a user started."""
