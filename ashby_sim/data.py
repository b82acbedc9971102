"""The generator of every kind: base record `index` of `kind`, built deterministically from the seed."""

from collections.abc import Callable

from ashby_sim import data_catalog, data_org, data_people
from ashby_sim.data_org import Current, Record
from ashby_sim.universe import BULK_KINDS, Universe

Generator = Callable[[Universe, int, Current], Record]

GENERATORS: dict[str, Generator] = {
    "candidates": data_people.candidate,
    "applications": data_people.application,
    "offers": data_people.offer,
    "interview_schedules": data_people.interview_schedule,
    "interview_events": data_people.interview_event,
    "application_feedback": data_people.application_feedback,
    "jobs": data_org.job,
    "users": data_org.user,
    "departments": data_org.department,
    "locations": data_org.location,
    "interview_plans": data_org.interview_plan,
    "interview_stages": data_org.interview_stage,
    "interviews": data_org.interview,
    "feedback_form_definitions": data_org.feedback_form_definition,
    "openings": data_org.opening,
    "job_postings": data_catalog.job_posting,
    "projects": data_catalog.project,
    "candidate_tags": data_catalog.candidate_tag,
    "custom_fields": data_catalog.custom_field,
    "sources": data_catalog.source,
    "archive_reasons": data_catalog.archive_reason,
}

# What other records embed of a kind, where building only that is cheaper than building the whole record. It
# must equal those fields of the whole record (a test checks): applications embed their candidate's summary.
EMBEDS: dict[str, Generator] = {"candidates": data_people.candidate_embed}

# Kinds with few records that many others embed: their base records are worth caching.
CACHED_KINDS = frozenset(GENERATORS) - BULK_KINDS


def generate(u: Universe, kind: str, index: int, current: Current) -> Record:
    """Base record `index` of `kind`; `current` resolves the records it embeds (with their mutations, and for
    the kinds of `EMBEDS`, only the fields that are embedded)."""
    return GENERATORS[kind](u, index, current)
