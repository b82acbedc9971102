"""`SimState`: the sandbox's records, switches, sync clock, request log, webhooks and deliveries."""

import random
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from ashby_sim.data_org import Record
from ashby_sim.faults import FailureQueue, Faults, QueuedFailure, SimError
from ashby_sim.ids import iso, random_id
from ashby_sim.mutations import Mutations
from ashby_sim.records import RecordStore
from ashby_sim.responses import encode_json
from ashby_sim.sender import Delivery, Outgoing, WebhookSender
from ashby_sim.sync import Lister, SyncClock

REQUEST_LOG_SIZE = 10_000
WEBHOOK_TYPES = frozenset(
    {
        "applicationSubmit", "applicationUpdate", "candidateHire", "candidateStageChange", "candidateDelete",
        "candidateMerge", "interviewPlanTransition", "interviewScheduleCreate", "interviewScheduleUpdate",
        "jobCreate", "jobUpdate", "jobPostingUpdate", "jobPostingPublish", "jobPostingUnpublish", "jobPostingDelete",
        "offerCreate", "offerUpdate", "offerDelete", "openingCreate", "pushToHRIS", "surveySubmit",
        "signatureRequestUpdate",
    }
)  # fmt: skip
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One API request as the sandbox saw it (kept in memory for tests; never logged)."""

    endpoint: str
    body: dict[str, Any]
    status: int
    error_code: str | None
    request_id: str


@dataclass
class Webhook:
    id: str
    webhook_type: str
    request_url: str
    secret_token: str
    enabled: bool

    def info(self, *, with_secret: bool = False) -> Record:
        out: Record = {
            "id": self.id,
            "enabled": self.enabled,
            "requestUrl": self.request_url,
            "webhookType": self.webhook_type,
        }
        if with_secret:
            out["secretToken"] = self.secret_token
        return out


class SimState(Mutations):
    """A seeded, deterministic Ashby org. Tests mutate it directly; the app serves it over HTTP.

    `scopes` are the API key's (`faults.key_scopes`); None: every scope.
    """

    def __init__(
        self,
        seed: int = 0,
        candidates: int = 100,
        api_key: str = "sandbox-key",
        scopes: Iterable[str] | None = None,
    ) -> None:
        self.seed = seed
        self.api_key = api_key
        self.base_url = ""
        self.records = RecordStore(seed, candidates)
        self.faults = Faults()
        self.faults.update({"key_scopes": None if scopes is None else list(scopes)})
        self.failures = FailureQueue()
        self.clock = SyncClock()
        self.lister = Lister(self.records, self.faults, self.clock)
        self.rng = random.Random(seed)
        self._id_rng = random.Random(seed + 1)
        self.requests: deque[RequestRecord] = deque(maxlen=REQUEST_LOG_SIZE)
        self._counts: Counter[str] = Counter()
        self.in_flight = 0  # API requests being answered now
        self.peak_in_flight = 0  # the most at once since the request log was reset
        self.webhooks: dict[str, Webhook] = {}
        self.deliveries: list[Delivery] = []
        self.actions: deque[tuple[str, str]] = deque(maxlen=REQUEST_LOG_SIZE)  # (webhookActionId, action) fired
        self.sender = WebhookSender(self.faults, random.Random(seed + 2), self.deliveries)
        self.notes: dict[str, list[Record]] = {}
        self.started_at = iso(int(time.time() * 1000))
        self._action_n = 0

    # --- records -----------------------------------------------------------------------------------
    def get(self, resource_name: str, record_id: str) -> Record | None:
        """The current record (as `.info`/`.list` return it), or None when missing or deleted."""
        return self.records.get(resource_name, record_id)

    def ids(self, resource_name: str) -> list[str]:
        return self.records.ids(resource_name)

    def all_records(self, resource_name: str) -> Iterator[Record]:
        """Every current, non-deleted record, in list order, exactly as a full `.list` pass returns them."""
        return (rec for _, rec in self.records.iter_slots(resource_name))

    # --- switches ----------------------------------------------------------------------------------
    def fail_next(
        self,
        endpoint: str,
        *,
        status: int = 429,
        retry_after: float | None = None,
        code: str | None = None,
        times: int = 1,
    ) -> None:
        """Fail the next `times` calls of `endpoint` (`*`: any): HTTP `status`, or HTTP 200 with error `code`."""
        self.failures.add(endpoint, QueuedFailure(status=status, retry_after=retry_after, code=code, times=times))

    def expire_sync_tokens(self) -> None:
        """Every syncToken issued so far now gets `sync_token_expired`."""
        self.clock.token_generation += 1

    def expire_cursors(self) -> None:
        """Every cursor issued so far now gets `next_cursor_expired`."""
        self.clock.cursor_generation += 1

    # --- request log -------------------------------------------------------------------------------
    def record_request(self, record: RequestRecord) -> None:
        self.requests.append(record)
        self._counts[record.endpoint] += 1

    def request_count(self, endpoint: str) -> int:
        return self._counts[endpoint]

    def request_counts(self) -> dict[str, int]:
        return dict(self._counts)

    def reset_request_log(self) -> None:
        self.requests.clear()
        self._counts.clear()
        self.peak_in_flight = self.in_flight

    def new_request_id(self) -> str:
        """A ULID-like id: 48 bits of milliseconds and 80 seeded random bits, Crockford base32."""
        value = (int(time.time() * 1000) << 80) | self._id_rng.getrandbits(80)
        return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))

    # --- webhooks ----------------------------------------------------------------------------------
    def new_action_id(self) -> str:
        self._action_n += 1
        return random_id(self.seed, "webhook-action", self._action_n)

    def emit(self, events: list[tuple[str, Record]]) -> str:
        """Fire related webhooks that share one webhookActionId to every enabled webhook of each type."""
        action_id = self.new_action_id()
        for action, data in events:
            self.actions.append((action_id, action))
            for hook in self.webhooks.values():
                if hook.enabled and hook.webhook_type == action:
                    body = encode_json({"webhookActionId": action_id, "action": action, "data": data})
                    self.sender.submit(Outgoing(hook.id, hook.request_url, hook.secret_token, action, action_id, body))
        return action_id

    async def wait_deliveries_idle(self) -> None:
        """Wait until every fired webhook is delivered, given up or dropped (bound it with asyncio.timeout)."""
        await self.sender.wait_idle()

    async def create_webhook(self, webhook_type: str, request_url: str, secret_token: str) -> Webhook:
        if webhook_type not in WEBHOOK_TYPES:
            raise SimError("invalid_input", f"unknown webhookType {webhook_type!r}")
        if not request_url.startswith(("http://", "https://")) or not secret_token:
            raise SimError("invalid_input", "requestUrl must be an http(s) URL and secretToken must be set")
        hook = Webhook(self.records.new_id(), webhook_type, request_url, secret_token, enabled=False)
        self.webhooks[hook.id] = hook
        hook.enabled = await self._ping(hook)
        return hook

    async def update_webhook(
        self,
        webhook_id: str,
        *,
        enabled: bool | None = None,
        request_url: str | None = None,
        secret_token: str | None = None,
    ) -> Webhook:
        hook = self.webhook(webhook_id)
        if request_url is not None:
            hook.request_url = request_url
        if secret_token is not None:
            hook.secret_token = secret_token
        if enabled is False:
            hook.enabled = False
        else:  # editing re-pings; a failed ping leaves the webhook disabled
            hook.enabled = await self._ping(hook) if (enabled or hook.enabled) else False
        return hook

    def delete_webhook(self, webhook_id: str) -> str:
        self.webhook(webhook_id)
        del self.webhooks[webhook_id]
        return webhook_id

    def webhook(self, webhook_id: Any) -> Webhook:
        hook = self.webhooks.get(webhook_id) if isinstance(webhook_id, str) else None
        if hook is None:
            raise SimError("webhook_not_found", "no webhook with this id")
        return hook

    async def _ping(self, hook: Webhook) -> bool:
        action_id = self.new_action_id()
        body = orjson.dumps({"webhookActionId": action_id, "action": "ping", "data": {"webhookActionType": "ping"}})
        return await self.sender.ping(hook.id, hook.request_url, hook.secret_token, body, action_id)


STATE_KEY = web.AppKey("ashby_sim_state", SimState)
