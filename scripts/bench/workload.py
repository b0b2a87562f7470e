"""What the benchmark sends and what its fake upstream answers: the key, the request bodies, the answer.

Every row gets the same bodies; they are written into the run's temp dir once
(``write_bodies``) and named by file there (wrk's ``post.lua`` and
``clients.py`` read them from disk).
"""

from __future__ import annotations

import json
from pathlib import Path

KEY = "sk-bench-0123456789abcdefghijklmnop"
# rpm/tpm limits a host never reaches, so they are checked on every request but refuse none
# (1e8 tpm was reached in the soak of a faster host: 4,600 req/s x 554 tokens, and its answers became 429s)
BIG = 1_000_000_000_000
MODEL = "gpt-4o-mini"
CHAT = "/v1/chat/completions"

PROMPT = (
    "You are reviewing a pull request for a payments service. The change moves the retry logic for "
    "card authorisations out of the HTTP handler and into a background worker that reads from a durable "
    "queue. Please summarise the risks of this change for the on-call engineer, in plain language, and "
    "suggest what we should monitor during the roll-out. Context follows. "
    "The handler used to call the card network synchronously, retrying up to three times with exponential "
    "back-off starting at 200 milliseconds, and it held the customer's request open for the whole time. "
    "Under load this tied up worker threads and made the p99 latency of the checkout page exceed four "
    "seconds on busy days. The new design acknowledges the request as soon as the authorisation intent is "
    "written to the queue, and the client polls a status endpoint. The worker pool is sized at sixteen "
    "workers per region, each processing one message at a time, with a visibility timeout of thirty "
    "seconds. Messages that fail five times go to a dead-letter queue that nobody currently watches. "
    "Idempotency is handled with a key derived from the order number and the attempt counter, stored in "
    "the same database as the orders, with a unique index. The status endpoint reads from a replica that "
    "can lag the primary by up to two seconds during vacuum. The mobile app caches the status response "
    "for five seconds. Support can be reached at payments-oncall@example.com if the queue backs up. "
    "We expect about twelve hundred authorisations per minute at peak, with short bursts to three "
    "thousand during flash sales, and the card network's own rate limit is two thousand per minute per "
    "merchant account, shared between both regions. Please keep the answer under two hundred words and "
    "list the three metrics you would put on the roll-out dashboard first, with a threshold for each."
)
ANSWER = {
    "id": "chatcmpl-BenchAbCdEfGhIjKlMnOpQrStUvWx",
    "object": "chat.completion",
    "created": 1764000000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": (
                    "Main risks: the dead-letter queue is unwatched, so failed authorisations disappear "
                    "silently; replica lag plus the app cache can show customers a stale status for up "
                    "to seven seconds; and the shared network rate limit can be exceeded in flash sales, "
                    "turning retries into more failures. Watch: queue age (alert above 30 s), dead-letter "
                    "count (alert above 0), and authorisation error rate (alert above 1%)."
                ),
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 471,
        "completion_tokens": 83,
        "total_tokens": 554,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
    "system_fingerprint": "fp_bench0001",
}


#: a short chat request (about 200 bytes of JSON) for the small-request rows: per-request costs dominate
SMALL_PROMPT = (
    "In two sentences: why should we move card-payment retries out of the HTTP handler and into a queue worker?"
)

# the request bodies' file names in the run's temp dir
BODY = "body.json"  # the 2 KB chat completion every row gets
STREAM_BODY = "stream.json"  # the same with stream=true, for the SSE upstream
SMALL_BODY = "small.json"  # the ~200 B chat completion of the small-request rows


def chat_body() -> dict:
    return {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You are a concise senior engineer."},
            {"role": "user", "content": PROMPT},
        ],
        "temperature": 0.2,
        "max_tokens": 300,
    }


def write_bodies(root: Path) -> None:
    """The request bodies into ``root``, each as one JSON document (``json.dumps``' default spacing)."""
    body = chat_body()
    (root / BODY).write_bytes(json.dumps(body).encode())
    stream_body = {**body, "stream": True, "stream_options": {"include_usage": True}}
    (root / STREAM_BODY).write_bytes(json.dumps(stream_body).encode())
    small = {"model": MODEL, "messages": [{"role": "user", "content": SMALL_PROMPT}], "max_tokens": 100}
    (root / SMALL_BODY).write_bytes(json.dumps(small).encode())


def answer_json() -> str:
    """The fake upstream's answer as nginx returns it (compact JSON inside a single-quoted nginx string)."""
    answer = json.dumps(ANSWER, separators=(",", ":"))
    if "'" in answer or "$" in answer:
        raise RuntimeError("the fake answer must not contain ' or $ (nginx string)")
    return answer
