"""The in-memory timer queue of due work, and the spreading of beats so they do not go out in bursts."""

import heapq
import itertools


class TimerQueue:
    """One pending time per key; setting a key again replaces its time (stale heap entries are skipped)."""

    def __init__(self):
        self._heap: list[tuple[float, int, object]] = []
        self._tokens: dict[object, int] = {}
        self._counter = itertools.count()

    def set(self, key, when: float) -> None:
        token = next(self._counter)
        self._tokens[key] = token
        heapq.heappush(self._heap, (when, token, key))

    def cancel(self, key) -> None:
        self._tokens.pop(key, None)

    def pop_due(self, now: float) -> list:
        due = []
        while self._heap and self._heap[0][0] <= now:
            _, token, key = heapq.heappop(self._heap)
            if self._tokens.get(key) == token:
                del self._tokens[key]
                due.append(key)
        return due

    def next_time(self) -> float | None:
        while self._heap and self._tokens.get(self._heap[0][2]) != self._heap[0][1]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def __len__(self) -> int:
        return len(self._tokens)


class Spreader:
    """Keeps scheduled beats at least `gap` apart by pulling a beat slightly earlier (never later: a beat
    earlier than its due time only restarts the countdown sooner). Beats armed together drift apart within
    one interval and then keep their places."""

    def __init__(self, gap: float, max_pull: float):
        self.gap = gap
        self.max_pull = max_pull
        self._slots: dict[object, float] = {}

    def place(self, key, target: float, max_pull: float | None = None) -> float:
        pull = self.max_pull if max_pull is None else min(max_pull, self.max_pull)
        floor = target - pull
        near = sorted(
            (t for k, t in self._slots.items() if k != key and floor - self.gap < t < target + self.gap),
            reverse=True,
        )
        when = target
        for other in near:
            if other >= when + self.gap:
                continue
            if other <= when - self.gap:
                break
            when = other - self.gap
            if when < floor:
                when = target  # crowded: keep the exact due time rather than drift further
                break
        self._slots[key] = when
        return when

    def remove(self, key) -> None:
        self._slots.pop(key, None)
