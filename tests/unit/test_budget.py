"""Claims just in time: chunk sizes from the invocation's rate, the time a chunk needs, the start-up check."""

import pytest

from mmapi.stack import load_template
from mmcore.sending.budget import RESERVE_SECONDS, Budget, CapacityError, check_capacity
from mmcore.settings import Settings


class FakeClock:
    """The invocation's remaining seconds, as Lambda's context would report them while time passes."""

    def __init__(self, timeout: float) -> None:
        self.left = timeout

    def spend(self, seconds: float) -> None:
        self.left -= seconds

    def __call__(self) -> float:
        return self.left


@pytest.mark.parametrize(
    ("rate", "max_chunk", "chunk"),
    [(16, 100, 16), (2, 100, 2), (0.5, 100, 1), (1000, 100, 100), (80, 25, 25)],
)
def test_a_chunk_is_about_a_second_of_sending_within_the_concurrency(rate, max_chunk, chunk):
    assert Budget(rate, 10, max_chunk).chunk == chunk


def test_chunks_are_claimed_only_while_the_remaining_time_covers_them():
    # Given the defaults' pace (16 msg/s, 10 s Graph timeout) and a 30 s invocation
    budget, clock = Budget(16, 10, 100), FakeClock(30)
    claimed = 0
    # When chunks are claimed while they fit, each one taking its pacing and a normal round trip
    while budget.fits(budget.chunk, clock()):
        claimed += budget.chunk
        clock.spend(budget.chunk / 16 + 0.2)
    # Then claiming stops with the worst case of one more chunk (1 s + 10 s + reserve) still covered
    assert clock() < budget.needed(16) == 1 + 10 + RESERVE_SECONDS
    assert claimed == 16 * 14  # 14 chunks in 30 - 14 s; the rest is deferred, not failed
    assert budget.fits(100, None)  # no deadline (tests, local runs): everything fits


def test_a_slow_chunk_leaves_no_time_for_the_next():
    budget, clock = Budget(16, 10, 100), FakeClock(30)
    assert budget.fits(16, clock())
    clock.spend(10 + 1)  # a POST of the chunk ran into the Graph timeout
    assert budget.fits(16, clock())  # 19 s left >= 14 s
    clock.spend(10 + 1)
    assert not budget.fits(16, clock())  # 8 s left: the next chunk could be killed mid-flight


def test_the_defaults_send_a_full_batch_within_the_timeout():
    check_capacity(Settings())  # 100 / (80 / 5) + 10 + 3 = 19.25 s <= 30 s


def test_a_rate_that_cannot_finish_a_batch_stops_the_send_function_naming_the_numbers():
    # issue 16: 2 msg/s per invocation, a batch of 100, a 30 s timeout (0 of 200 were recorded accepted)
    settings = Settings(throughput_mps=10, send_max_concurrency=5)
    with pytest.raises(CapacityError) as raised:
        check_capacity(settings)
    message = str(raised.value)
    for number in (
        "batch of 100",
        "63.00 s",
        "100 / 2 msg/s",
        "ThroughputMps 10",
        "SendMaxConcurrency 5",
        "30 s",
    ):
        assert number in message


def test_a_longer_timeout_or_a_smaller_batch_makes_the_same_rate_fit():
    check_capacity(Settings(throughput_mps=10, send_max_concurrency=5, send_timeout_seconds=70))
    check_capacity(Settings(throughput_mps=10, send_max_concurrency=5, send_batch_size=30))


def test_the_check_reads_the_batch_size_and_timeout_the_template_deploys():
    template = load_template()
    send = template["Resources"]["SendFunction"]["Properties"]
    env = send["Environment"]["Variables"]
    timeout = send.get("Timeout", template["Globals"]["Function"]["Timeout"])
    assert int(env["SEND_BATCH_SIZE"]) == send["Events"]["SendQueue"]["Properties"]["BatchSize"]
    assert float(env["SEND_TIMEOUT_SECONDS"]) == timeout
    # and the template's own defaults pass the check
    parameters = template["Parameters"]
    check_capacity(
        Settings(
            throughput_mps=parameters["ThroughputMps"]["Default"],
            send_max_concurrency=parameters["SendMaxConcurrency"]["Default"],
            send_batch_size=env["SEND_BATCH_SIZE"],
            send_timeout_seconds=env["SEND_TIMEOUT_SECONDS"],
        )
    )
