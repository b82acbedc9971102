"""Candidate changes: create, update, tag, note, anonymize, delete, merge."""

from abc import abstractmethod
from typing import Any

from ashby_sim.data_org import Record
from ashby_sim.data_people import candidate_summary
from ashby_sim.faults import SimError
from ashby_sim.ids import iso
from ashby_sim.records import RecordStore

_SOCIAL = {"linkedInUrl": "LinkedIn", "githubUrl": "GitHub", "websiteUrl": "Website", "website": "Website"}
_PLAIN_FIELDS = ("name", "position", "company", "school", "timezone")


def _contact(value: str) -> Record:
    return {"value": value, "type": "Personal", "isPrimary": True}


class PeopleMutations:
    """Candidate mutations; `SimState` supplies `records`, `notes` and `emit`."""

    records: RecordStore
    notes: dict[str, list[Record]]

    @abstractmethod
    def emit(self, events: list[tuple[str, Record]]) -> str: ...

    # --- lookups that raise Ashby's not-found errors ---------------------------------------------------
    def _candidate(self, candidate_id: Any) -> Record:
        cand = self.records.editable("candidates", candidate_id)
        if cand is None:
            raise SimError("candidate_not_found", "no candidate with this id")
        return cand

    def _job(self, job_id: Any) -> Record:
        job = self.records.get("jobs", job_id)
        if job is None:
            raise SimError("job_not_found", "no job with this id")
        return job

    def _source(self, source_id: Any) -> Record:
        source = self.records.get("sources", source_id)
        if source is None:
            raise SimError("source_not_found", "no source with this id")
        return source

    def _user(self, user_id: Any) -> Record:
        user = self.records.get("users", user_id)
        if user is None:
            raise SimError("user_not_found", "no user with this id")
        return user

    # --- mutations -------------------------------------------------------------------------------------
    def create_candidate(self, name: str, **fields: Any) -> Record:
        """A new candidate (candidate.create fields: email, phoneNumber, linkedInUrl, sourceId, ...)."""
        given: Any = name  # the admin route passes JSON through unchecked
        if not isinstance(given, str) or not given.strip():
            raise SimError("invalid_input", "name is required")
        cand: Record = {
            "id": self.records.new_id(),
            "createdAt": "",
            "updatedAt": "",
            "name": name,
            "emailAddresses": [],
            "phoneNumbers": [],
            "socialLinks": [],
            "tags": [],
            "applicationIds": [],
            "fileHandles": [],
            "customFields": [],
        }
        cand["profileUrl"] = f"https://app.ashbyhq.com/candidates/{cand['id']}"
        self._apply_candidate_fields(cand, fields)
        return self.records.create("candidates", cand)

    def update_candidate(self, candidate_id: str, **fields: Any) -> Record:
        """Change a candidate's fields (candidate.update names: name, email, phoneNumber, linkedInUrl, ...)."""
        cand = self._candidate(candidate_id)
        self._apply_candidate_fields(cand, fields)
        self._embed_in_applications(cand)
        return self.records.put("candidates", cand)

    def _apply_candidate_fields(self, cand: Record, fields: dict[str, Any]) -> None:
        for key, value in fields.items():
            if value is None:
                continue
            if key in _PLAIN_FIELDS:
                if not isinstance(value, str):
                    raise SimError("invalid_input", f"{key} must be a string")
                cand[key] = value
            elif key in ("email", "alternateEmail"):
                self._add_contact(cand, "emailAddresses", "primaryEmailAddress", value, primary=key == "email")
            elif key == "phoneNumber":
                self._add_contact(cand, "phoneNumbers", "primaryPhoneNumber", value, primary=True)
            elif key in _SOCIAL:
                links = [link for link in cand["socialLinks"] if link["type"] != _SOCIAL[key]]
                cand["socialLinks"] = [*links, {"type": _SOCIAL[key], "url": str(value)}]
            elif key == "sourceId":
                cand["source"] = self._source(value)
            elif key == "creditedToUserId":
                cand["creditedToUser"] = self._user(value)
            elif key == "createdAt":
                cand["createdAt"] = str(value)

    @staticmethod
    def _add_contact(cand: Record, list_key: str, primary_key: str, value: Any, *, primary: bool) -> None:
        if not isinstance(value, str) or not value:
            raise SimError("invalid_input", f"{list_key} values must be non-empty strings")
        others = [{**c, "isPrimary": False} for c in cand[list_key] if c["value"] != value]
        if primary:
            cand[primary_key] = _contact(value)
            cand[list_key] = [cand[primary_key], *others]
        else:
            cand[list_key] = [*cand[list_key], {**_contact(value), "isPrimary": False}]

    def add_tag(self, candidate_id: str, tag_id: str) -> Record:
        cand = self._candidate(candidate_id)
        tag = self.records.get("candidate_tags", tag_id)
        if tag is None:
            raise SimError("tag_not_found", "no candidate tag with this id")
        if all(t["id"] != tag["id"] for t in cand["tags"]):
            cand["tags"] = [*cand["tags"], {"id": tag["id"], "title": tag["title"], "isArchived": tag["isArchived"]}]
        return self.records.put("candidates", cand)

    def create_note(self, candidate_id: str, content: str, *, is_private: bool = False) -> Record:
        cand = self._candidate(candidate_id)
        author = self.records.current("users", 0)
        note: Record = {
            "id": self.records.new_id(),
            "createdAt": iso(self.records.next_ms()),
            "isPrivate": is_private,
            "content": content,
            "author": {k: author[k] for k in ("id", "firstName", "lastName", "email")},
        }
        self.notes.setdefault(cand["id"], []).append(note)
        self.records.put("candidates", cand)
        return note

    def anonymize_candidate(self, candidate_id: str) -> Record:
        """Remove the candidate's personal data (candidate.anonymize)."""
        cand = self._candidate(candidate_id)
        for key in ("primaryEmailAddress", "primaryPhoneNumber", "position", "company", "school", "location"):
            cand.pop(key, None)
        cand.pop("resumeFileHandle", None)
        cand.update(name="Anonymized Candidate", emailAddresses=[], phoneNumbers=[], socialLinks=[], fileHandles=[])
        self.notes.pop(cand["id"], None)
        self._embed_in_applications(cand)
        return self.records.put("candidates", cand)

    def _embed_in_applications(self, cand: Record) -> None:
        """Changed applications embed the candidate as it is now, as Ashby serves them, without a new `updatedAt`
        (unchanged ones embed the current candidate already)."""
        changed = self.records.overlaid("applications")
        summary = candidate_summary(cand)
        for app_id in cand.get("applicationIds", ()):
            if app_id in changed:
                changed[app_id]["candidate"] = summary

    def delete_candidate(self, candidate_id: str) -> None:
        """Delete a candidate, its applications and what hangs off them; fires candidateDelete."""
        cand = self._candidate(candidate_id)
        apps = set(cand["applicationIds"])
        for app_id in apps:
            self.records.delete("applications", app_id)
        schedules = self._delete_where("interview_schedules", "applicationId", apps)
        self._delete_where("interview_events", "interviewScheduleId", schedules)
        self._delete_where("offers", "applicationId", apps)
        self._delete_where("application_feedback", "applicationId", apps)
        self.records.delete("candidates", cand["id"])
        self.notes.pop(cand["id"], None)
        self.emit([("candidateDelete", {"candidate": {"id": cand["id"]}})])

    def _delete_where(self, kind: str, key: str, values: set[str]) -> set[str]:
        """Delete the records of `kind` whose `key` is in `values` (a scan: the sandbox's orgs are small); their ids."""
        doomed = {rec["id"] for _, rec in self.records.iter_slots(kind) if rec.get(key) in values} if values else set()
        for record_id in doomed:
            self.records.delete(kind, record_id)
        return doomed

    def merge_candidates(self, deleted_id: str, merged_id: str) -> Record:
        """Merge `deleted_id` into `merged_id`: its applications move over, it disappears; fires candidateMerge."""
        gone, kept = self._candidate(deleted_id), self._candidate(merged_id)
        if gone["id"] == kept["id"]:
            raise SimError("invalid_input", "cannot merge a candidate into itself")
        moved = []
        for app_id in gone["applicationIds"]:
            app = self.records.editable("applications", app_id)
            if app is not None:
                app["candidate"] = candidate_summary(kept)
                self.records.put("applications", app)
                moved.append(app_id)
        kept["applicationIds"] = [*kept["applicationIds"], *moved]
        self.records.put("candidates", kept)
        self.records.delete("candidates", gone["id"])
        self.notes.setdefault(kept["id"], []).extend(self.notes.pop(gone["id"], []))
        self.emit([("candidateMerge", {"deletedCandidate": {"id": gone["id"]}, "mergedCandidate": {"id": kept["id"]}})])
        return kept
