"""Notifications: per-user channels, the outbox of deliveries, and the senders for each channel kind."""
