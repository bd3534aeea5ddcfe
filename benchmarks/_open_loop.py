"""Open-loop load: request ``n`` is sent at ``start + n / rate`` whether or not earlier ones have
answered, so a slow answer shows up as latency instead of slowing the load down."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx


def open_loop(
    total: int,
    rate: float,
    make_client: Callable[[], httpx.Client],
    send: Callable[[httpx.Client, int, int], None],
    senders: int = 8,
) -> float:
    """Calls ``send(client, k, n)`` for n in 0..total-1 on schedule from ``senders`` threads (thread
    ``k`` sends every ``senders``-th request with its own client); returns the achieved rate."""

    def sender(k: int) -> None:
        client = make_client()
        try:
            for n in range(k, total, senders):
                delay = start + n / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                send(client, k, n)
        finally:
            client.close()

    start = time.perf_counter() + 0.05
    threads = [threading.Thread(target=sender, args=(k,), daemon=True) for k in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return total / (time.perf_counter() - start)
