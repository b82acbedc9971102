"""The shape of a seeded sandbox org: how many records of each kind, and how base records relate by index.

Every relationship is arithmetic on indexes, so any base record can be generated on its own, in O(1),
without materialising the others (a million candidates cost nothing until a page asks for them).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from ashby_sim.ids import digest, make_id

T = TypeVar("T")

EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z: base records were created over the following SPAN_MS
SPAN_MS = 500 * 86_400_000
STAGES_PER_PLAN = 7
# (title, stage type) of the stages of every interview plan, in order.
STAGES: tuple[tuple[str, str], ...] = (
    ("Lead", "Lead"),
    ("Application Review", "PreInterviewScreen"),
    ("Phone Screen", "Active"),
    ("Onsite", "Active"),
    ("Offer", "Offer"),
    ("Hired", "Hired"),
    ("Archived", "Archived"),
)
STAGE_LEAD, STAGE_REVIEW, STAGE_PHONE, STAGE_ONSITE, STAGE_OFFER, STAGE_HIRED, STAGE_ARCHIVED = range(7)
INTERVIEWS_PER_PLAN = 3
OFFER_EVERY = 20  # application a has an offer when a % OFFER_EVERY == OFFER_AT
OFFER_AT = 7
SCHEDULE_EVERY = 4  # application a has an interview schedule when a % SCHEDULE_EVERY == SCHEDULE_AT
SCHEDULE_AT = 1
EVENTS_PER_SCHEDULE = 2


# Kinds that grow with the candidate count; the others are small and referenced from everywhere.
BULK_KINDS = frozenset(
    {"candidates", "applications", "offers", "interview_schedules", "interview_events", "application_feedback"}
)


@dataclass(frozen=True, slots=True)
class Sizes:
    """How many base records of each kind an org with `candidates` candidates has."""

    counts: dict[str, int]

    @classmethod
    def for_candidates(cls, candidates: int) -> "Sizes":
        n = max(0, candidates)
        jobs = max(4, n // 40)
        plans = max(2, jobs // 4)
        applications = 3 * (n // 2) + n % 2
        schedules = (applications + SCHEDULE_EVERY - 1 - SCHEDULE_AT) // SCHEDULE_EVERY
        counts = {
            "candidates": n,
            "applications": applications,
            "jobs": jobs,
            "offers": max(0, (applications + OFFER_EVERY - 1 - OFFER_AT) // OFFER_EVERY),
            "interview_schedules": schedules,
            "interview_events": schedules * EVENTS_PER_SCHEDULE,
            "interviews": plans * INTERVIEWS_PER_PLAN,
            "interview_plans": plans,
            "users": max(5, n // 100),
            "departments": max(3, n // 2000),
            "locations": max(3, n // 2000),
            "openings": jobs,
            "projects": max(2, n // 1000),
            "candidate_tags": max(5, n // 500),
            "custom_fields": 6,
            "feedback_form_definitions": max(3, plans),
            "application_feedback": schedules,
            "job_postings": jobs,
            "sources": 8,
            "archive_reasons": 6,
            "interview_stages": plans * STAGES_PER_PLAN,
        }
        return cls(counts)


class Universe:
    """Seeded ids, pseudo-random picks and index arithmetic shared by the generators."""

    def __init__(self, seed: int, candidates: int) -> None:
        self.seed = seed
        self.sizes = Sizes.for_candidates(candidates)
        self.count = self.sizes.counts
        self._ids: dict[tuple[str, int], str] = {}  # ids of the small kinds, which every record embeds
        # A record's digest is read by each helper that derives a field from it (an application's job, stage,
        # offer, dates...): the recent ones are kept.
        self._h: dict[tuple[str, int], bytes] = {}

    def id(self, kind: str, index: int) -> str:
        if kind in BULK_KINDS:
            return make_id(self.seed, kind, index)
        key = (kind, index)
        found = self._ids.get(key)
        if found is None:
            if len(self._ids) >= 100_000:
                self._ids.clear()
            found = self._ids[key] = make_id(self.seed, kind, index)
        return found

    def h(self, kind: str, index: int) -> bytes:
        """32 pseudo-random bytes for the record's field choices."""
        key = (kind, index)
        found = self._h.get(key)
        if found is None:
            if len(self._h) >= 4096:
                self._h.clear()
            found = self._h[key] = digest(self.seed, kind + "#", index, 32)
        return found

    @staticmethod
    def pick(h: bytes, slot: int, options: Sequence[T]) -> T:
        return options[h[slot % len(h)] % len(options)]

    @staticmethod
    def num(h: bytes, slot: int, modulo: int) -> int:
        return int.from_bytes(h[slot % 28 : slot % 28 + 4], "big") % max(1, modulo)

    def created_ms(self, kind: str, index: int, h: bytes | None = None) -> int:
        """Base records are spread over SPAN_MS in index order, with a little jitter."""
        n = max(1, self.count.get(kind, 1))
        return EPOCH_MS + index * SPAN_MS // n + self.num(h or self.h(kind, index), 30, 60_000)

    def updated_ms(self, kind: str, index: int, h: bytes | None = None) -> int:
        h = h or self.h(kind, index)
        return self.created_ms(kind, index, h) + self.num(h, 26, 30 * 86_400_000)

    # --- relationships by index --------------------------------------------------------------------
    @staticmethod
    def application_candidate(a: int) -> int:
        """Candidates come in pairs (2p: one application, 2p+1: two): applications 3p, 3p+1, 3p+2."""
        pair, r = divmod(a, 3)
        return 2 * pair if r == 0 else 2 * pair + 1

    def candidate_applications(self, c: int) -> list[int]:
        pair, odd = divmod(c, 2)
        apps = [3 * pair + 1, 3 * pair + 2] if odd else [3 * pair]
        return [a for a in apps if a < self.count["applications"]]

    def application_job(self, a: int) -> int:
        return self.num(self.h("applications", a), 0, self.count["jobs"])

    def job_plan(self, j: int) -> int:
        return j % self.count["interview_plans"]

    def stage_index(self, plan: int, k: int) -> int:
        return plan * STAGES_PER_PLAN + k

    @staticmethod
    def application_offer(a: int) -> int | None:
        return a // OFFER_EVERY if a % OFFER_EVERY == OFFER_AT else None

    @staticmethod
    def offer_application(o: int) -> int:
        return o * OFFER_EVERY + OFFER_AT

    @staticmethod
    def application_schedule(a: int) -> int | None:
        return a // SCHEDULE_EVERY if a % SCHEDULE_EVERY == SCHEDULE_AT else None

    @staticmethod
    def schedule_application(s: int) -> int:
        return s * SCHEDULE_EVERY + SCHEDULE_AT

    @staticmethod
    def event_schedule(e: int) -> int:
        return e // EVENTS_PER_SCHEDULE

    @staticmethod
    def feedback_event(f: int) -> int:
        return f * EVENTS_PER_SCHEDULE

    def plan_interview(self, plan: int, k: int) -> int:
        return plan * INTERVIEWS_PER_PLAN + k

    def user_for(self, kind: str, index: int, slot: int = 1) -> int:
        return self.num(self.h(kind, index), slot, self.count["users"])
