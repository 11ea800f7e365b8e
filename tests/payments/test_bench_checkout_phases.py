"""bench_checkout's load phases, without a server: the payment phase ends for every client when
one client's pre-made orders run out, and its rate counts only the time actually measured."""

import threading
import time

from bench import checkout_load as bench

SEED = {"buyers": [{"key": "k0"}, {"key": "k1"}], "products": [1], "staff_key": "s"}


def test_payment_phase_stops_when_a_client_runs_out_of_orders():
    paid = []
    lock = threading.Lock()

    def pay(client, seed, pool):
        if not pool:
            raise bench.OutOfOrders
        order = pool.pop()
        time.sleep(0.01)
        with lock:
            paid.append(order)
        return True, {"pay": 1.0}, ""

    pools = [[f"a{i}" for i in range(5)], [f"b{i}" for i in range(50)]]
    phase = bench.run_phase(0, SEED, 2, 30.0, op=pay, pools=pools)

    assert phase.done == len(paid) >= 5
    assert phase.errors == 0
    assert not pools[0]  # the short pool was used up...
    assert pools[1]  # ...and the other client stopped with orders left
    assert phase.seconds < 5  # not the 30 s asked for
    assert phase.rate == phase.done / phase.seconds


def test_failed_operations_count_as_errors_with_the_first_message_kept():
    calls = iter(range(1000))

    def flaky(client, seed, pool):
        n = next(calls)
        if n >= 6:
            raise bench.OutOfOrders
        return (n % 2 == 0), {}, f"failure {n}"

    phase = bench.run_phase(0, SEED, 1, 30.0, op=flaky, pools=[[]])
    assert (phase.done, phase.errors) == (3, 3)
    assert phase.first_error == "failure 1"
