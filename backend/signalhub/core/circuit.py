"""A circuit breaker: stop calling a failing dependency for a while, then let one trial call through."""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable

from signalhub.core import metrics


class CircuitState(enum.StrEnum):
    """closed: calls flow; open: calls are refused; half_open: one trial call decides."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failures; after `reset_seconds` one trial call may pass."""

    def __init__(self, name: str, failure_threshold: int, reset_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False
        metrics.set_circuit_state(name, CircuitState.CLOSED)

    @property
    def state(self) -> CircuitState:
        """The current state."""
        with self._lock:
            return self._state()

    def _state(self) -> CircuitState:
        if self._opened_at is None:
            state = CircuitState.CLOSED
        elif self._clock() - self._opened_at >= self.reset_seconds:
            state = CircuitState.HALF_OPEN
        else:
            state = CircuitState.OPEN
        # Published whenever the state is looked at or changed, so the gauge follows the breaker.
        metrics.set_circuit_state(self.name, state)
        return state

    def allow(self) -> bool:
        """Whether a call may go through now (in half-open, only one trial at a time)."""
        with self._lock:
            state = self._state()
            if state == CircuitState.CLOSED:
                return True
            if state == CircuitState.HALF_OPEN and not self._trial_in_flight:
                self._trial_in_flight = True
                return True
            return False

    def record_success(self) -> None:
        """A call succeeded: close the circuit."""
        with self._lock:
            self._failures, self._opened_at, self._trial_in_flight = 0, None, False
            metrics.set_circuit_state(self.name, CircuitState.CLOSED)

    def record_failure(self) -> None:
        """A call failed: count it, and open (or re-open after a failed trial)."""
        with self._lock:
            self._failures += 1
            if self._trial_in_flight or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()
            self._trial_in_flight = False
            self._state()
