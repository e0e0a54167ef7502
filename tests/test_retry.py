"""The retry policy on its own (which answers are asked again, after how long, and when it stops),
and the reload a cell would cause: pure functions."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

from ollama_nb import reload
from ollama_nb.backend import Loaded
from ollama_nb.retry import RetryPolicy, gave_up_text, parse_retry_after, waiting_text

NOW = datetime(2026, 12, 1, 23, 0, tzinfo=timezone.utc)


def test_only_busy_answers_are_retried():
    policy = RetryPolicy()
    assert [s for s in (400, 401, 404, 500, 502, 503, 504, 429) if policy.retryable(s)] == [
        502,
        503,
        504,
        429,
    ]
    assert not RetryPolicy(retries=0).retryable(503)


def test_the_waits_grow_exponentially_with_jitter_and_a_cap():
    policy = RetryPolicy(base=1, cap=8, jitter=0.5)
    assert [policy.delay(n, rand=lambda: 0.0) for n in range(1, 6)] == [1, 2, 4, 8, 8]
    assert [policy.delay(n, rand=lambda: 1.0) for n in range(1, 5)] == [0.5, 1, 2, 4]


def test_retry_after_is_never_cut_short():
    policy = RetryPolicy(base=1)
    assert policy.delay(1, retry_after=2.0, rand=lambda: 0.0) == 2.0
    assert policy.delay(4, retry_after=2.0, rand=lambda: 0.0) == 8.0  # the backoff is longer already


def test_retries_stop_at_the_count_and_at_the_total_wait():
    policy = RetryPolicy(retries=3, max_wait=10, base=4, cap=30, jitter=0)
    assert policy.next_wait(1, 0) == 4
    assert policy.next_wait(2, 4) == 6  # 8 would pass 10 s in all: the rest of the budget
    assert policy.next_wait(3, 10) is None  # nothing left
    assert policy.next_wait(4, 0) is None  # no retries left
    assert policy.next_wait(1, 5, retry_after=20) is None  # asked to wait past the budget: give up


def test_retry_after_reads_seconds_and_http_dates():
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(format_datetime(NOW + timedelta(seconds=30), usegmt=True), now=NOW) == 30.0
    assert parse_retry_after(format_datetime(NOW - timedelta(seconds=30), usegmt=True), now=NOW) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None and parse_retry_after(" ") is None


def test_the_wait_and_the_end_are_said_in_the_servers_words():
    busy = "server busy, please try again.  maximum pending requests exceeded"
    assert waiting_text(503, busy, 4.2, 2, 5) == f"server busy (503: {busy}); trying again in 4 s (2 of 5)"
    assert waiting_text(429, "too many requests", 0.6, 1, 5).startswith("too many requests (429: ")
    assert gave_up_text(503, busy, 5, 47.0).startswith(
        f"Ollama said (503): {busy} (still busy after 5 retries"
    )


# -- the reload a cell would cause (ollama_nb.reload), also pure -------------------------------
def test_a_different_num_ctx_reloads_a_loaded_model_and_other_runner_options_may():
    ps = Loaded.read({"models": [{"model": "smollm2:latest", "context_length": 4096}]})
    certain = reload.check("smollm2", {"num_ctx": 8192}, ps, "http://pool:11400", last_load_s=2.5)
    assert certain is not None and certain.certain
    assert (
        "reloads the model for everyone using that server (loading it took 2.50 s last time)" in certain.text
    )
    assert "OLLAMA_CONTEXT_LENGTH=8192" in certain.text
    maybe = reload.check("smollm2", {"num_batch": 64, "temperature": 0}, ps, "h")
    assert maybe is not None and not maybe.certain and "sets num_batch: if smollm2 runs" in maybe.text
    assert reload.check("smollm2", {"num_ctx": 4096}, ps, "h") is None  # the same: nothing to say
    assert reload.check("other", {"num_ctx": 8192}, ps, "h") is None  # not loaded: nobody is using it
    assert reload.check("smollm2", {"temperature": 1}, ps, "h") is None  # not a runner option
    assert reload.refusal(certain).endswith("Not sent (shared=true): add --force to send it anyway.")
