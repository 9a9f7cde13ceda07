"""Leave a failed part alone for a moment: the one rule the task broker, the fail-safe cache
and the rate-limit store share when Redis stops answering. After a failure no request waits
on that part again for ``retry_s`` seconds (each caller degrades meanwhile: the cache misses,
the limiter allows, an enqueue answers 503 or is left for the periodic sweep), and the failure
is logged at most once a minute per part and process. Neutral: imports no layer.
"""

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

WARN_EVERY_S = 60.0

logger = logging.getLogger("reviewapp.backoff")


@dataclass
class Backoff:
    """The state of one part in this process. ``retry_s`` is read at each failure (a setting
    may change in tests); warnings go to LOG, the part's own logger."""

    name: str
    retry_s: Callable[[], float]
    log: logging.Logger = logger
    down_until: float = 0.0
    last_warning: float = -math.inf
    failures: int = 0
    skipped: int = 0  # calls that did not try the part because it was down
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def is_down(self) -> bool:
        """Whether a recent failure keeps callers off the part (and count the call)."""
        if time.monotonic() >= self.down_until:
            return False
        with self.lock:
            self.skipped += 1
        return True

    def failed(self, exc: BaseException, consequence: str) -> None:
        """Note a failure: back off for ``retry_s``, warn at most once a minute with what the
        caller does instead (CONSEQUENCE)."""
        now = time.monotonic()
        retry = float(self.retry_s())
        with self.lock:
            self.down_until = now + retry
            self.failures += 1
            warn = now - self.last_warning >= WARN_EVERY_S
            if warn:
                self.last_warning = now
        if warn:
            self.log.warning(
                "%s unavailable (%s: %s); %s; not retrying for %.0f s",
                self.name,
                type(exc).__name__,
                exc,
                consequence,
                retry,
            )

    def reset(self) -> None:
        """Forget failures (tests; the next call tries the part again)."""
        with self.lock:
            self.down_until, self.last_warning = 0.0, -math.inf
            self.failures = self.skipped = 0
