"""The Ashby API client: one POST per call, status and envelope mapped to `ashby_api.errors`; never retries.

Retrying is `ashby_api.retry`'s job: pass a `Retrier` to `iter_pages`, or wrap single calls in `with_retries`.
"""

import asyncio
import base64
import dataclasses
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, Self, TypeVar, overload

import aiohttp
import msgspec
import orjson
from multidict import CIMultiDictProxy
from pydantic import SecretStr

from ashby_api.envelope import decode_response, parse_page
from ashby_api.errors import AshbyProtocolError, AshbyTransportError
from ashby_api.models import (
    MODELS,
    RESOURCE_OF,
    Application,
    ApplicationFeedback,
    ArchiveReason,
    AshbyRecord,
    BodyPage,
    Candidate,
    CandidateTag,
    CustomField,
    Department,
    FeedbackFormDefinition,
    Interview,
    InterviewEvent,
    InterviewPlan,
    InterviewSchedule,
    InterviewStage,
    Job,
    JobPosting,
    Location,
    Offer,
    Opening,
    Page,
    Project,
    Source,
    User,
)
from ashby_api.resources import BY_NAME, RESOURCES, Resource, SyncMode
from ashby_api.writes import AshbyWrites

DEFAULT_LIMIT = 100  # Ashby's maximum page size
READ_BUFFER_BYTES = 1 << 20
"""A list page of 100 candidates is about 180 KB: read it in one buffer, not three 64 KiB ones (12 % less CPU
per page)."""


def new_session() -> aiohttp.ClientSession:
    """The HTTP session an `AshbyClient` is best given (one per process: it pools the connections)."""
    return aiohttp.ClientSession(read_bufsize=READ_BUFFER_BYTES)


# The id parameter of each `.info` endpoint (Ashby's names are not uniform).
INFO_ID_PARAM: dict[str, str] = {
    "candidate.info": "id",
    "application.info": "applicationId",
    "job.info": "id",
    "offer.info": "offerId",
    "interview.info": "id",
    "user.info": "userId",
    "department.info": "departmentId",
    "location.info": "locationId",
    "opening.info": "openingId",
    "project.info": "projectId",
    "customField.info": "customFieldId",
    "feedbackFormDefinition.info": "feedbackFormDefinitionId",
    "jobPosting.info": "jobPostingId",
    "interviewStage.info": "interviewStageId",
}

_BY_ENDPOINT: dict[str, Resource] = {r.endpoint: r for r in RESOURCES}

T = TypeVar("T")
R = TypeVar("R", bound=AshbyRecord)
R_co = TypeVar("R_co", bound=AshbyRecord, covariant=True)


class Retrier(Protocol):
    """Runs `fn`, retrying it as it sees fit (`ashby_api.retry.Retrier`)."""

    async def __call__(self, fn: Callable[[], Awaitable[T]], /) -> T: ...


class ListFn(Protocol[R]):
    """A typed list call such as `client.list_candidates(cursor=..., sync_token=...)`."""

    def __call__(
        self,
        *,
        cursor: str | None = None,
        sync_token: str | None = None,
        limit: int = DEFAULT_LIMIT,
        params: Mapping[str, Any] | None = None,
    ) -> Awaitable[Page[R]]: ...


class InfoFn(Protocol[R_co]):
    """A typed info call such as `client.info_candidate(candidate_id)`."""

    def __call__(self, id: str, /) -> Awaitable[R_co]: ...


# Typed per-resource methods -----------------------------------------------------------------------------------


class ListMethod(Generic[R]):
    """`AshbyClient.list_<resource>`: `list_models` bound to one model, typed."""

    def __init__(self, model: type[R]) -> None:
        self.model = model

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, client: "AshbyClient", owner: type[Any]) -> ListFn[R]: ...
    def __get__(self, client: "AshbyClient | None", owner: type[Any]) -> Self | ListFn[R]:
        if client is None:
            return self
        return functools.partial(client.list_models, self.model)


class InfoMethod(Generic[R]):
    """`AshbyClient.info_<resource>`: `info` bound to one model, typed."""

    def __init__(self, model: type[R]) -> None:
        self.model = model

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, client: "AshbyClient", owner: type[Any]) -> InfoFn[R]: ...
    def __get__(self, client: "AshbyClient | None", owner: type[Any]) -> Self | InfoFn[R]:
        if client is None:
            return self
        return functools.partial(client.info, self.model)


class _Id(msgspec.Struct):
    id: Any = None


class _IdEnvelope(msgspec.Struct):
    """A list response with only what a sync pass needs decoded; other fields are skipped unbuilt."""

    success: Any = None
    results: list[_Id] | None = None
    moreDataAvailable: Any = None  # Ashby's field names
    nextCursor: Any = None
    syncToken: Any = None

    def paging(self) -> dict[str, Any]:
        return {"moreDataAvailable": self.moreDataAvailable, "nextCursor": self.nextCursor, "syncToken": self.syncToken}


_ID_ENVELOPE = msgspec.json.Decoder(_IdEnvelope)


def _list_request(
    resource: Resource | None,
    *,
    cursor: str | None,
    sync_token: str | None,
    limit: int = DEFAULT_LIMIT,
    params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The body of a list call: a resource's registry params updated by `params`, then paging. Snapshot resources
    get no `limit` or `syncToken`: their endpoints take neither."""
    body: dict[str, Any] = {**(resource.params if resource else {}), **(params or {})}
    if resource is None or resource.mode is SyncMode.INCREMENTAL:
        body["limit"] = limit
        if sync_token is not None:
            body["syncToken"] = sync_token
    if cursor is not None:
        body["cursor"] = cursor
    return body


def _results(payload: Mapping[str, Any], endpoint: str) -> list[dict[str, Any]]:
    raw = payload.get("results")
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise AshbyProtocolError("results is not a list of objects", endpoint=endpoint)
    return raw


def _paging(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The paging fields of a list response, normalised (an empty cursor or token is none)."""
    next_cursor, token = payload.get("nextCursor"), payload.get("syncToken")
    return {
        "next_cursor": next_cursor if isinstance(next_cursor, str) and next_cursor else None,
        "more_data_available": payload.get("moreDataAvailable") is True,
        "sync_token": token if isinstance(token, str) and token else None,
    }


class AshbyClient(AshbyWrites):
    """Talks to one Ashby account. Owns no connections: `session` belongs to the process.

    At most `max_in_flight` requests of this client (or of every client given the same `in_flight` gate) are in
    flight at once; each has a `timeout` in seconds.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str | SecretStr,
        max_in_flight: int = 4,
        timeout: float = 30,
        in_flight: AbstractAsyncContextManager[object] | None = None,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        self._session = session
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._headers = {"Content-Type": "application/json", "Accept": "application/json; version=1"}
        if key:  # Basic auth: the key as user name, an empty password. No key: Ashby answers 401.
            self._headers["Authorization"] = "Basic " + base64.b64encode(f"{key}:".encode()).decode("ascii")
        self.max_in_flight = max_in_flight
        # `in_flight`: the account's cap shared with its other clients, in this process (a reloaded client's
        # predecessor may still have requests out) and in others (`store.request_slots`); held around each
        # request, it must have been made for `max_in_flight`.
        self._in_flight: AbstractAsyncContextManager[object] = (
            in_flight if in_flight is not None else asyncio.Semaphore(max_in_flight)
        )
        self._client_timeout = aiohttp.ClientTimeout(total=timeout)

    def __repr__(self) -> str:  # never shows the key
        return f"AshbyClient(base_url={self.base_url!r})"

    # Transport ------------------------------------------------------------------------------------------------

    async def call(self, endpoint: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """POST `body` to `endpoint` and return the success envelope.

        Raises:
            AshbyError: the subclass for the failure (see `ashby_api.errors`).
        """
        payload, _ = await self._post(endpoint, body)
        return payload

    async def _post(self, endpoint: str, body: Mapping[str, Any] | None) -> tuple[dict[str, Any], bytes]:
        """The success envelope of `endpoint` called with `body`, and the response bytes it was decoded from."""
        status, headers, content = await self._send(endpoint, body)
        return decode_response(endpoint, status, headers, content), content

    async def _send(self, endpoint: str, body: Mapping[str, Any] | None) -> "tuple[int, CIMultiDictProxy[str], bytes]":
        """The status, headers and body of `endpoint` called with `body` (AshbyTransportError if none came)."""
        data = orjson.dumps(dict(body or {}))
        async with self._in_flight:
            try:
                async with self._session.post(
                    f"{self.base_url}/{endpoint}",
                    data=data,
                    headers=self._headers,
                    timeout=self._client_timeout,
                    raise_for_status=False,
                    allow_redirects=False,
                ) as resp:
                    status, headers = resp.status, resp.headers
                    content = await resp.read()
            except TimeoutError as exc:
                raise AshbyTransportError(f"timed out after {self.timeout:g}s", endpoint=endpoint) from exc
            except aiohttp.ClientError as exc:
                raise AshbyTransportError(f"request failed ({type(exc).__name__})", endpoint=endpoint) from exc
        return status, headers, content

    # Lists ----------------------------------------------------------------------------------------------------

    async def list_page(
        self,
        resource_or_endpoint: str | Resource,
        *,
        cursor: str | None = None,
        sync_token: str | None = None,
        limit: int = DEFAULT_LIMIT,
        params: Mapping[str, Any] | None = None,
    ) -> Page[dict[str, Any]]:
        """One page of a list endpoint, unparsed: `results` and `raw` are the objects exactly as Ashby sent them.

        `resource_or_endpoint` is a resource name (`candidates`), its endpoint (`candidate.list`) or any other
        list endpoint. A resource's registry params (`includeArchived`, ...) are sent, updated by `params`.
        Snapshot resources get no `limit` or `syncToken`: their endpoints take neither.
        """
        resource = _find_resource(resource_or_endpoint)
        endpoint = resource.endpoint if resource else str(resource_or_endpoint)
        body = _list_request(resource, cursor=cursor, sync_token=sync_token, limit=limit, params=params)
        payload, content = await self._post(endpoint, body)
        raw = _results(payload, endpoint)
        return Page(results=raw, raw=raw, **_paging(payload), body=content)

    async def list_body_page(
        self, resource: Resource, *, cursor: str | None = None, sync_token: str | None = None
    ) -> BodyPage:
        """`list_page` for a sync pass: the page's objects stay in the body, for Postgres to read.

        Decodes only the envelope and each object's id (msgspec skips the rest without building it), unless the
        body has `\\u` escapes or anything about it is unusual: then it is decoded as `list_page` does, with the
        same errors.
        """
        body = _list_request(resource, cursor=cursor, sync_token=sync_token)
        requested_at = datetime.now(UTC)  # orders versions of objects without updatedAt (`store.mirror`)
        status, headers, content = await self._send(resource.endpoint, body)
        if 200 <= status < 300 and b"\\u" not in content:
            try:
                envelope = _ID_ENVELOPE.decode(content)
            except (msgspec.DecodeError, msgspec.ValidationError):
                envelope = None
            if envelope is not None and envelope.success is True and envelope.results is not None:
                ids = [r.id for r in envelope.results]
                return BodyPage(content, ids, **_paging(envelope.paging()), requested_at=requested_at)
        payload = decode_response(resource.endpoint, status, headers, content)
        raw = _results(payload, resource.endpoint)
        return BodyPage(content, [o.get("id") for o in raw], **_paging(payload), objects=raw, requested_at=requested_at)

    async def list_models(
        self,
        model: type[R],
        *,
        cursor: str | None = None,
        sync_token: str | None = None,
        limit: int = DEFAULT_LIMIT,
        params: Mapping[str, Any] | None = None,
    ) -> Page[R]:
        """One page of the resource whose records are `model` (`Candidate` -> `candidate.list`), parsed."""
        resource = BY_NAME[RESOURCE_OF[model]]
        page = await self.list_page(resource, cursor=cursor, sync_token=sync_token, limit=limit, params=params)
        return parse_page(resource.endpoint, model, page)

    @overload
    def iter_pages(
        self,
        resource: type[R],
        *,
        sync_token: str | None = None,
        cursor: str | None = None,
        params: Mapping[str, Any] | None = None,
        limit: int = DEFAULT_LIMIT,
        retry: Retrier | None = None,
    ) -> AsyncIterator[Page[R]]: ...

    @overload
    def iter_pages(
        self,
        resource: str | Resource,
        *,
        sync_token: str | None = None,
        cursor: str | None = None,
        params: Mapping[str, Any] | None = None,
        limit: int = DEFAULT_LIMIT,
        retry: Retrier | None = None,
    ) -> AsyncIterator[Page[AshbyRecord]]: ...

    async def iter_pages(
        self,
        resource: type[AshbyRecord] | str | Resource,
        *,
        sync_token: str | None = None,
        cursor: str | None = None,
        params: Mapping[str, Any] | None = None,
        limit: int = DEFAULT_LIMIT,
        retry: Retrier | None = None,
    ) -> AsyncIterator[Page[Any]]:
        """Every page of one pass over `resource` (a model class, resource name or `Resource`), parsed.

        The first request sends `sync_token` (None: a full pass); later ones send `cursor` plus the same token.
        For an incremental resource the last page carries the pass's new `sync_token` (Ashby may send it on an
        earlier page only; it is carried to the last), and a pass that ends without one raises
        `AshbyProtocolError`. A snapshot resource's pass is usually one page without a token.
        Each page is fetched through `retry` when given; the client itself never retries.

        Raises:
            SyncRestartRequired: the token or cursor cannot be continued; start a full pass.
        """
        if isinstance(resource, type):
            res = BY_NAME[RESOURCE_OF[resource]]
        else:
            found = _find_resource(resource)
            if found is None:
                raise KeyError(f"unknown resource {resource!r}")
            res = found
        model = MODELS[res.name]
        seen_token: str | None = None
        while True:
            fetch = functools.partial(
                self.list_page, res, cursor=cursor, sync_token=sync_token, limit=limit, params=params
            )
            raw_page = await (retry(fetch) if retry is not None else fetch())
            page = parse_page(res.endpoint, model, raw_page)
            seen_token = page.sync_token or seen_token
            if not page.more_data_available:
                if res.mode is SyncMode.INCREMENTAL:
                    if seen_token is None:
                        raise AshbyProtocolError("pass ended without a syncToken", endpoint=res.endpoint)
                    page = dataclasses.replace(page, sync_token=seen_token)
                yield page
                return
            if page.next_cursor is None or page.next_cursor == cursor:
                raise AshbyProtocolError("moreDataAvailable without a new nextCursor", endpoint=res.endpoint)
            yield page
            cursor = page.next_cursor

    list_candidates = ListMethod(Candidate)
    list_applications = ListMethod(Application)
    list_jobs = ListMethod(Job)
    list_offers = ListMethod(Offer)
    list_interview_schedules = ListMethod(InterviewSchedule)
    list_interview_events = ListMethod(InterviewEvent)
    list_interviews = ListMethod(Interview)
    list_interview_plans = ListMethod(InterviewPlan)
    list_users = ListMethod(User)
    list_departments = ListMethod(Department)
    list_locations = ListMethod(Location)
    list_openings = ListMethod(Opening)
    list_projects = ListMethod(Project)
    list_candidate_tags = ListMethod(CandidateTag)
    list_custom_fields = ListMethod(CustomField)
    list_feedback_form_definitions = ListMethod(FeedbackFormDefinition)
    list_application_feedback = ListMethod(ApplicationFeedback)
    list_job_postings = ListMethod(JobPosting)
    list_sources = ListMethod(Source)
    list_archive_reasons = ListMethod(ArchiveReason)
    list_interview_stages = ListMethod(InterviewStage)  # params={"interviewPlanId": ...}

    # Info -----------------------------------------------------------------------------------------------------

    async def info(self, model: type[R], id: str) -> R:
        """One record by id from its resource's `.info` endpoint.

        Raises:
            NotFound: no such record.
        """
        resource = BY_NAME[RESOURCE_OF[model]]
        if resource.info_endpoint is None:
            raise ValueError(f"{resource.name} has no info endpoint")
        endpoint = resource.info_endpoint
        return await self._result(endpoint, {INFO_ID_PARAM[endpoint]: id}, model)

    info_candidate = InfoMethod(Candidate)
    info_application = InfoMethod(Application)
    info_job = InfoMethod(Job)
    info_offer = InfoMethod(Offer)
    info_interview = InfoMethod(Interview)
    info_user = InfoMethod(User)
    info_department = InfoMethod(Department)
    info_location = InfoMethod(Location)
    info_opening = InfoMethod(Opening)
    info_project = InfoMethod(Project)
    info_custom_field = InfoMethod(CustomField)
    info_feedback_form_definition = InfoMethod(FeedbackFormDefinition)
    info_job_posting = InfoMethod(JobPosting)
    info_interview_stage = InfoMethod(InterviewStage)


def _find_resource(resource_or_endpoint: str | Resource) -> Resource | None:
    if isinstance(resource_or_endpoint, Resource):
        return resource_or_endpoint
    return BY_NAME.get(resource_or_endpoint) or _BY_ENDPOINT.get(resource_or_endpoint)
