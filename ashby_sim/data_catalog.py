"""Generators for postings, projects and the small lookup lists (tags, custom fields, sources, archive reasons)."""

from ashby_sim import words
from ashby_sim.data_org import Current, Record, job_status
from ashby_sim.ids import iso
from ashby_sim.universe import Universe

_LINKED_EMPLOYMENT = {
    "FullTime": "FULL_TIME",
    "PartTime": "PART_TIME",
    "Intern": "INTERN",
    "Contract": "CONTRACTOR",
    "Temporary": "TEMPORARY",
}


def job_posting_published(i: int) -> bool:
    """Postings of draft jobs are unpublished (listed only with includeUnpublishedJobPostings)."""
    return job_status(i) != "Draft"


def job_posting(u: Universe, i: int, cur: Current) -> Record:
    j = cur("jobs", i)
    loc = cur("locations", int(u.num(u.h("jobs", i), 4, u.count["locations"])))
    dept = cur("departments", int(u.num(u.h("jobs", i), 8, u.count["departments"])))
    posting_id = u.id("job_postings", i)
    published = iso(u.created_ms("jobs", i) + 2 * 86_400_000)[:10]
    text = f"Join us as a {j['title']} in {loc['name']}."
    return {
        "id": posting_id,
        "title": j["title"],
        "jobId": j["id"],
        "descriptionPlain": text,
        "descriptionHtml": f"<p>{text}</p>",
        "descriptionParts": {"descriptionBody": {"html": f"<p>{text}</p>", "plain": text}},
        "departmentName": dept["name"],
        "teamName": dept["name"],
        "teamNameHierarchy": [dept["name"]],
        "locationName": loc["name"],
        "locationIds": {"primaryLocationId": loc["id"], "secondaryLocationIds": []},
        "linkedData": {
            "@context": "https://schema.org/",
            "@type": "JobPosting",
            "title": j["title"],
            "datePosted": published,
            "employmentType": _LINKED_EMPLOYMENT[j["employmentType"]],
        },
        "publishedDate": published,
        "isRemote": loc["workplaceType"] == "Remote",
        "workplaceType": loc["workplaceType"],
        "employmentType": j["employmentType"],
        "applicationFormDefinition": {"sections": []},
        "surveyFormDefinitions": [],
        "isListed": i % 9 != 8,
        "applyLink": f"https://jobs.example.com/sandbox/{posting_id}/application",
        "compensation": {
            "compensationTiers": [],
            "summaryComponents": [],
            "shouldDisplayCompensationOnJobBoard": False,
        },
        "shouldDisplayCompensationOnJobBoard": False,
        "updatedAt": iso(u.updated_ms("job_postings", i)),
    }


def project(u: Universe, i: int, cur: Current) -> Record:
    return {
        "id": u.id("projects", i),
        "title": f"{words.PROJECTS[i % len(words.PROJECTS)]} {i + 1}",
        "description": "Sourcing project",
        "isArchived": i % 7 == 6,
        "confidential": False,
        "authorId": u.id("users", u.user_for("projects", i)),
        "createdAt": iso(u.created_ms("projects", i)),
        "updatedAt": iso(u.updated_ms("projects", i)),
        "customFieldEntries": [],
    }


def candidate_tag(u: Universe, i: int, cur: Current) -> Record:
    title = words.TAGS[i % len(words.TAGS)] + (f" {i // len(words.TAGS) + 1}" if i >= len(words.TAGS) else "")
    return {
        "id": u.id("candidate_tags", i),
        "title": title,
        "isArchived": i % 31 == 30,
        "updatedAt": iso(u.updated_ms("candidate_tags", i)),
    }


def custom_field(u: Universe, i: int, cur: Current) -> Record:
    title, object_type, field_type = words.CUSTOM_FIELDS[i % len(words.CUSTOM_FIELDS)]
    rec: Record = {
        "id": u.id("custom_fields", i),
        "isPrivate": False,
        "title": title,
        "objectType": object_type,
        "isArchived": False,
        "fieldType": field_type,
        "isRequired": False,
        "updatedAt": iso(u.updated_ms("custom_fields", i)),
    }
    if field_type == "ValueSelect":
        rec["selectableValues"] = [{"label": v, "value": v, "isArchived": False} for v in words.NOTICE_PERIODS]
    return rec


def source(u: Universe, i: int, cur: Current) -> Record:
    title, type_title = words.SOURCES[i % len(words.SOURCES)]
    type_index = sorted({t for _, t in words.SOURCES}).index(type_title)
    return {
        "id": u.id("sources", i),
        "title": title,
        "isArchived": False,
        "sourceType": {"id": u.id("source_types", type_index), "title": type_title, "isArchived": False},
    }


def archive_reason(u: Universe, i: int, cur: Current) -> Record:
    text, reason_type = words.ARCHIVE_REASONS[i % len(words.ARCHIVE_REASONS)]
    return {"id": u.id("archive_reasons", i), "text": text, "reasonType": reason_type, "isArchived": False}
