"""Prometheus metrics of sync passes (the process that runs passes exposes them)."""

from prometheus_client import Counter, Histogram

PASSES = Counter("ashby_sync_passes_total", "Sync passes finished, by outcome.", ["resource", "mode", "outcome"])
RESTARTS = Counter(
    "ashby_sync_restarts_total",
    "Passes that dropped their token or cursor and ran full, by reason.",
    ["resource", "reason"],
)
ROWS = Counter("ashby_sync_rows_total", "Rows written to the mirror by sync passes.", ["resource"])
REJECTED_FIELDS = Counter(
    "ashby_sync_rejected_fields_total",
    "Fields Ashby sent that could not be typed, or were missing or not a documented value (kept in raw).",
    ["resource"],
)
PAGE_WRITE_SECONDS = Histogram(
    "ashby_sync_page_write_seconds", "Time to write a page (or the pages queued together) to Postgres.", ["resource"]
)
PAGES_PER_WRITE = Histogram(
    "ashby_sync_pages_per_write",
    "Pages written in one statement and transaction (more than one when the writer was behind the fetcher).",
    ["resource"],
    buckets=(1, 2, 3, 4, 8),
)
PAGE_WRITES_REDONE = Counter(
    "ashby_sync_page_writes_redone_total",
    "Page writes rolled back and redone because the page before them was slow to commit (see PREDECESSOR_WAIT_S).",
    ["resource"],
)
