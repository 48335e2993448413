"""Turns at a model that answers one question at a time: first come, first served, with a wait.

The local model runs in one llama.cpp context, so a server with many users answers them one by
one. Each answer takes a ticket; `status` says how many answers are ahead of it and about how
long they will take (the median of the last answers' durations); `leave` frees its place,
whether it was answered, given up or still waiting.

    queue = ModelQueue()
    ticket = queue.join()
    try:
        while not queue.wait(ticket, timeout=1.0):
            ahead, eta = queue.status(ticket)   # e.g. (2, 61.5): tell the user
        answer = qa.ask(question)
    finally:
        queue.leave(ticket, answered=True)
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Callable

from .errors import QueueFull


class Ticket:
    """One answer's place in the queue."""

    __slots__ = ("joined", "started")

    def __init__(self, now: float) -> None:
        self.joined = now
        self.started: float | None = None  # when its turn came


class ModelQueue:
    """A FIFO of answers waiting for one model, with the wait each can expect."""

    def __init__(self, window: int = 10, clock: Callable[[], float] = time.monotonic) -> None:
        self._line: deque[Ticket] = deque()  # the first one holds the model
        self._durations: deque[float] = deque(maxlen=window)  # of the last answers given
        self._changed = threading.Condition()
        self._clock = clock

    def join(self, max_waiting: int | None = None) -> Ticket:
        """A ticket at the back of the line; QueueFull if `max_waiting` are waiting already."""
        with self._changed:
            waiting = max(0, len(self._line) - 1)
            if max_waiting is not None and self._line and waiting >= max_waiting:
                raise QueueFull(waiting)
            ticket = Ticket(self._clock())
            self._line.append(ticket)
            self._start_first()
            return ticket

    def wait(self, ticket: Ticket, timeout: float | None = None) -> bool:
        """Wait up to `timeout` seconds for the ticket's turn; True once it holds the model."""
        with self._changed:
            return self._changed.wait_for(lambda: self._first() is ticket, timeout)

    def status(self, ticket: Ticket) -> tuple[int, float | None]:
        """(answers ahead of the ticket, seconds they should take; None until one was timed)."""
        with self._changed:
            ahead = self._line.index(ticket)
            if ahead == 0:
                return 0, 0.0
            if not self._durations:
                return ahead, None
            typical = statistics.median(self._durations)
            under_way = self._clock() - self._line[0].started
            return ahead, max(0.0, typical - under_way) + (ahead - 1) * typical

    def leave(self, ticket: Ticket, answered: bool = False) -> None:
        """Free the ticket's place; `answered` adds its time at the model to the estimates."""
        with self._changed:
            if self._line and self._line[0] is ticket:
                self._line.popleft()
                if answered:
                    self._durations.append(self._clock() - ticket.started)
                self._start_first()
            elif ticket in self._line:
                self._line.remove(ticket)
            self._changed.notify_all()

    def __len__(self) -> int:
        """Answers in the queue, the one being given included."""
        return len(self._line)

    def _first(self) -> Ticket | None:
        return self._line[0] if self._line else None

    def _start_first(self) -> None:
        if self._line and self._line[0].started is None:
            self._line[0].started = self._clock()
