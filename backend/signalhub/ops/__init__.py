"""Operations: beat schedules and their single leader, invariants, daily reports, admin status."""
