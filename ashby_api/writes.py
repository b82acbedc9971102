"""Ashby's write endpoints the MCP proxy calls: candidates, applications, offers, webhooks, the API key."""

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import SecretStr

from ashby_api.envelope import parse_object
from ashby_api.errors import AshbyProtocolError
from ashby_api.models import ApiKeyInfo, Application, AshbyModel, Candidate, Note, Offer, WebhookSetting

A = TypeVar("A", bound=AshbyModel)


class AshbyWrites:
    """The write calls of `AshbyClient`, each one POST through its `call`."""

    async def call(self, endpoint: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        raise NotImplementedError  # AshbyClient.call

    async def _result(self, endpoint: str, body: Mapping[str, Any], model: type[A]) -> A:
        payload = await self.call(endpoint, body)
        return parse_object(endpoint, model, payload.get("results"))

    # Candidates -----------------------------------------------------------------------------------------------

    async def candidate_create(
        self,
        name: str,
        *,
        email: str | None = None,
        phone_number: str | None = None,
        source_id: str | None = None,
        credited_to_user_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Candidate:
        """Create a candidate; `extra` carries any other `candidate.create` field (camelCase)."""
        body = _present(
            name=name, email=email, phoneNumber=phone_number, sourceId=source_id, creditedToUserId=credited_to_user_id
        )
        return await self._result("candidate.create", {**(extra or {}), **body}, Candidate)

    async def candidate_update(
        self,
        candidate_id: str,
        *,
        name: str | None = None,
        email: str | None = None,
        phone_number: str | None = None,
        source_id: str | None = None,
        credited_to_user_id: str | None = None,
        send_notifications: bool | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Candidate:
        """Update the given fields of a candidate (None leaves a field as it is)."""
        body = _present(
            candidateId=candidate_id,
            name=name,
            email=email,
            phoneNumber=phone_number,
            sourceId=source_id,
            creditedToUserId=credited_to_user_id,
            sendNotifications=send_notifications,
        )
        return await self._result("candidate.update", {**(extra or {}), **body}, Candidate)

    async def candidate_add_tag(self, candidate_id: str, tag_id: str) -> Candidate:
        """Add an existing tag to a candidate."""
        return await self._result("candidate.addTag", {"candidateId": candidate_id, "tagId": tag_id}, Candidate)

    async def candidate_create_note(
        self,
        candidate_id: str,
        note: str,
        *,
        html: bool = False,
        is_private: bool | None = None,
        send_notifications: bool | None = None,
    ) -> Note:
        """Add a note (plain text, or HTML with Ashby's small tag subset) to a candidate."""
        body = _present(
            candidateId=candidate_id,
            note={"value": note, "type": "text/html" if html else "text/plain"},
            isPrivate=is_private,
            sendNotifications=send_notifications,
        )
        return await self._result("candidate.createNote", body, Note)

    async def candidate_anonymize(self, candidate_id: str) -> Candidate:
        """Anonymize a candidate (irreversible; every application must be archived or hired)."""
        return await self._result("candidate.anonymize", {"candidateId": candidate_id}, Candidate)

    async def candidate_search(self, *, email: str | None = None, name: str | None = None) -> list[Candidate]:
        """Candidates matching all given criteria; Ashby caps the answer at 100."""
        endpoint = "candidate.search"
        payload = await self.call(endpoint, _present(email=email, name=name))
        results = payload.get("results")
        if not isinstance(results, list):
            raise AshbyProtocolError("results is not a list", endpoint=endpoint)
        return [parse_object(endpoint, Candidate, item) for item in results]

    # Applications ---------------------------------------------------------------------------------------------

    async def application_create(
        self,
        candidate_id: str,
        job_id: str,
        *,
        interview_plan_id: str | None = None,
        interview_stage_id: str | None = None,
        source_id: str | None = None,
        credited_to_user_id: str | None = None,
    ) -> Application:
        """Consider a candidate for a job."""
        body = _present(
            candidateId=candidate_id,
            jobId=job_id,
            interviewPlanId=interview_plan_id,
            interviewStageId=interview_stage_id,
            sourceId=source_id,
            creditedToUserId=credited_to_user_id,
        )
        return await self._result("application.create", body, Application)

    async def application_change_stage(
        self, application_id: str, interview_stage_id: str, *, archive_reason_id: str | None = None
    ) -> Application:
        """Move an application to a stage; an Archived-type stage needs `archive_reason_id`."""
        body = _present(
            applicationId=application_id, interviewStageId=interview_stage_id, archiveReasonId=archive_reason_id
        )
        return await self._result("application.changeStage", body, Application)

    async def application_change_source(self, application_id: str, source_id: str | None) -> Application:
        """Set an application's source; None unsets it."""
        body = {"applicationId": application_id, "sourceId": source_id}
        return await self._result("application.changeSource", body, Application)

    async def application_update(
        self,
        application_id: str,
        *,
        source_id: str | None = None,
        credited_to_user_id: str | None = None,
        send_notifications: bool | None = None,
    ) -> Application:
        """Update the given fields of an application (None leaves a field as it is)."""
        body = _present(
            applicationId=application_id,
            sourceId=source_id,
            creditedToUserId=credited_to_user_id,
            sendNotifications=send_notifications,
        )
        return await self._result("application.update", body, Application)

    async def application_transfer(
        self,
        application_id: str,
        job_id: str,
        *,
        interview_plan_id: str,
        interview_stage_id: str,
        start_automatic_activities: bool | None = None,
    ) -> Application:
        """Move an application to another job, at the given plan and stage."""
        body = _present(
            applicationId=application_id,
            jobId=job_id,
            interviewPlanId=interview_plan_id,
            interviewStageId=interview_stage_id,
            startAutomaticActivities=start_automatic_activities,
        )
        return await self._result("application.transfer", body, Application)

    # Offers, webhooks, key ------------------------------------------------------------------------------------

    async def offer_set_status(self, offer_id: str, acceptance_status: str) -> Offer:
        """Set an offer's `acceptanceStatus` (`Accepted`, `Declined`, ...); Ashby derives `offerStatus` from it."""
        body = {"offerId": offer_id, "acceptanceStatus": acceptance_status}
        return await self._result("offer.setStatus", body, Offer)

    async def webhook_create(
        self, webhook_type: str, request_url: str, secret_token: str | SecretStr
    ) -> WebhookSetting:
        """Register a webhook; Ashby pings `request_url` and saves it disabled when the ping fails."""
        secret = secret_token.get_secret_value() if isinstance(secret_token, SecretStr) else secret_token
        body = {"webhookType": webhook_type, "requestUrl": request_url, "secretToken": secret}
        return await self._result("webhook.create", body, WebhookSetting)

    async def webhook_update(
        self,
        webhook_id: str,
        *,
        enabled: bool | None = None,
        request_url: str | None = None,
        secret_token: str | SecretStr | None = None,
    ) -> WebhookSetting:
        """Change a webhook's given settings (None leaves a setting as it is)."""
        secret = secret_token.get_secret_value() if isinstance(secret_token, SecretStr) else secret_token
        body = _present(webhookId=webhook_id, enabled=enabled, requestUrl=request_url, secretToken=secret)
        return await self._result("webhook.update", body, WebhookSetting)

    async def webhook_delete(self, webhook_id: str) -> str:
        """Delete a webhook; returns the deleted id."""
        endpoint = "webhook.delete"
        payload = await self.call(endpoint, {"webhookId": webhook_id})
        results = payload.get("results")
        deleted = results.get("webhookId") if isinstance(results, dict) else None
        return deleted if isinstance(deleted, str) else webhook_id

    async def webhook_info(self, webhook_id: str) -> WebhookSetting:
        """A webhook's settings (without its secret)."""
        return await self._result("webhook.info", {"webhookId": webhook_id}, WebhookSetting)

    async def api_key_info(self) -> ApiKeyInfo:
        """The calling key's title and scopes: a cheap credentials and permissions probe."""
        return await self._result("apiKey.info", {}, ApiKeyInfo)


def _present(**fields: Any) -> dict[str, Any]:
    """The fields that are not None (None means "not given" for Ashby's optional body fields)."""
    return {k: v for k, v in fields.items() if v is not None}
