"""The receiver's Prometheus metrics, in a registry of their own (one per app, so tests can run several apps).

| name | type | labels | what |
| --- | --- | --- | --- |
| `ashby_webhooks_received_total` | counter | `action` | signed, well-formed deliveries (new and duplicate) |
| `ashby_webhooks_rejected_total` | counter | `reason` | deliveries refused: see `REJECT_REASONS` |
| `ashby_webhooks_duplicates_total` | counter | `action` | retries and replays of stored events (200, not enqueued) |
| `ashby_webhooks_store_failures_total` | counter | | deliveries answered 503 because Postgres failed |
| `ashby_webhooks_enqueued_total` | counter | | drain jobs queued (at most one waiting per account) |
| `ashby_webhooks_enqueue_calls_total` | counter | | Redis calls made to queue drains (see `dispatch`) |
| `ashby_webhooks_enqueue_failures_total` | counter | | drains not queued (Redis failed), per account |
| `ashby_webhook_ingest_seconds` | histogram | | request start to 200 of stored deliveries (verify, commit, enqueue) |
| `ashby_webhook_inbox_batch_size` | histogram | | events per inbox INSERT (one statement, one commit) |
| `ashby_webhook_inbox_commit_seconds` | histogram | | duration of an inbox INSERT and its commit |
| `ashby_webhook_inbox_backlog` | gauge | | pending inbox events (all accounts), read from Postgres at scrape time |
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ashby_api.webhooks import WEBHOOK_ACTIONS

# Why a delivery was refused (the `reason` label); statuses per DESIGN.md invariant 2.
REJECT_REASONS = (
    "too_large",  # 413
    "unknown_account",  # 404
    "missing_signature",  # 401
    "bad_signature",  # 401
    "no_secret",  # 401: the account has no webhook secret configured
    "malformed",  # 400, stored as rejected
)
OTHER_ACTION = "other"  # label of actions Ashby added after WEBHOOK_ACTIONS: keeps label values bounded

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ReceiverMetrics:
    """Every metric the receiver exports, registered in `self.registry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.received = Counter(
            "ashby_webhooks_received", "Signed, well-formed webhook deliveries.", ["action"], registry=r
        )
        self.rejected = Counter("ashby_webhooks_rejected", "Webhook deliveries refused.", ["reason"], registry=r)
        self.duplicates = Counter(
            "ashby_webhooks_duplicates", "Retries and replays of stored events (not enqueued).", ["action"], registry=r
        )
        self.store_failures = Counter(
            "ashby_webhooks_store_failures", "Deliveries answered 503 because Postgres failed.", registry=r
        )
        self.enqueued = Counter(
            "ashby_webhooks_enqueued", "Drain jobs queued (at most one waiting per account).", registry=r
        )
        self.enqueue_calls = Counter(
            "ashby_webhooks_enqueue_calls", "Redis calls made to queue drain jobs.", registry=r
        )
        self.enqueue_failures = Counter(
            "ashby_webhooks_enqueue_failures", "Drain jobs not queued because Redis failed (per account).", registry=r
        )
        self.ingest_seconds = Histogram(
            "ashby_webhook_ingest_seconds",
            "Request start to 200 for stored deliveries.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "ashby_webhook_inbox_batch_size", "Events per inbox INSERT.", buckets=_BATCH_BUCKETS, registry=r
        )
        self.commit_seconds = Histogram(
            "ashby_webhook_inbox_commit_seconds",
            "Duration of an inbox INSERT and its commit.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.backlog = Gauge("ashby_webhook_inbox_backlog", "Pending inbox events, all accounts.", registry=r)
        for reason in REJECT_REASONS:  # export zeros, so rate() works from the first scrape
            self.rejected.labels(reason)
        # One child per action, looked up once: `labels()` on every delivery was a tenth of the handler's time.
        actions = [*WEBHOOK_ACTIONS, OTHER_ACTION]
        self._received = {a: self.received.labels(a) for a in actions}
        self._duplicates = {a: self.duplicates.labels(a) for a in actions}

    def count_received(self, action: str) -> None:
        """A signed, well-formed delivery of `action` (counted under `other` when Ashby added it later)."""
        self._received.get(action, self._received[OTHER_ACTION]).inc()

    def count_duplicate(self, action: str) -> None:
        """A retry or replay of a stored event of `action`."""
        self._duplicates.get(action, self._duplicates[OTHER_ACTION]).inc()
