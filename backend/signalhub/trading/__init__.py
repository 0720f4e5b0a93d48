"""Orders for opted-in users: sizing, risk rules, the order state machine, fills, reconciliation."""
