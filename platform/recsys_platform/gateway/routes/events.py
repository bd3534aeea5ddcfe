"""``POST /v1/events``: validate each event, log the valid ones, answer per record."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from opentelemetry import propagate
from pydantic import ConfigDict, TypeAdapter, ValidationError

from recsys_platform.errors import FieldError, PayloadTooLarge, QuotaExceeded
from recsys_platform.events.log import EventLogUnavailable, OutgoingRecord
from recsys_platform.events.schemas import (
    Event,
    EventBatch,
    EventBatchResult,
    EventResult,
    encode_envelope,
)
from recsys_platform.gateway.deps import CallerDep, ServicesDep
from recsys_platform.gateway.ratelimit import retry_after_header
from recsys_platform.provisioning.kafka_topics import topic_name
from recsys_platform.web.openapi import ProblemDetails, problem_response, problem_responses

router = APIRouter(prefix="/v1", tags=["events"])
_EVENT = TypeAdapter(Event)
_FIELD_PREFIX = re.compile(r"^(?:Value error, )?([a-z_]+): (.*)$", re.S)


class EventBatchProblem(ProblemDetails, EventBatchResult):
    """The 503 of ``POST /v1/events``: problem details plus the per-event results (events the
    log did not acknowledge are ``unavailable``; retrying the batch is safe)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "https://recsys.dev/problems/dependency-unavailable",
                    "title": "Dependency unavailable",
                    "status": 503,
                    "detail": "the event log did not acknowledge 1 event(s); retry the batch "
                    "(event_id makes it idempotent)",
                    "accepted": 0,
                    "rejected": 0,
                    "unavailable": 1,
                    "results": [
                        {
                            "index": 0,
                            "event_id": "e-7f3a9c",
                            "status": "unavailable",
                            "errors": [{"field": "event", "reason": "not logged: timed out"}],
                        }
                    ],
                }
            ]
        }
    )


def event_errors(exc: ValidationError) -> list[FieldError]:
    """Field-level errors; model-level ones say ``field: reason`` and are split likewise."""
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if not loc and (m := _FIELD_PREFIX.match(msg)):
            loc, msg = m.group(1), m.group(2)
        out.append(FieldError(loc or "event", msg.removeprefix("Value error, ")))
    return out


@router.post(
    "/events",
    response_model=EventBatchResult,
    responses={
        **problem_responses(429),
        503: problem_response(
            503,
            "The event log did not acknowledge; retry the batch (idempotent).",
            "EventBatchProblem",
            retry_after=True,
        ),
    },
)
async def post_events(body: EventBatch, caller: CallerDep, services: ServicesDep) -> Any:
    """Accept 1-1,000 events. Each is validated on its own; valid ones are appended to the
    tenant's event log, keyed by user (per-user order), and the answer is sent only after
    the log acknowledged them. ``event_id`` makes retries safe: duplicates count once."""
    caller.require("events:write")
    quota = caller.quotas.events_per_second
    if len(body.events) > quota:
        # The bucket holds at most `quota` events: this batch could never pass, so no Retry-After.
        raise PayloadTooLarge(
            f"a batch of {len(body.events)} events can never be accepted: the tenant's events quota "
            f"is {quota} events/s (its burst); send batches of at most {quota} events",
            [FieldError("events", f"at most {quota} events per batch under this tenant's quota")],
        )
    wait = await services.limiter.acquire(
        f"{caller.tenant_id}:events", rate=quota, burst=quota, cost=len(body.events)
    )
    if wait > 0:
        raise QuotaExceeded(
            f"events quota of {quota}/s exceeded; retry after {wait:.2f}s",
            [FieldError("events", f"quota {quota} events/s")],
            headers={"Retry-After": retry_after_header(wait)},
        )

    results: list[EventResult] = []
    valid: list[tuple[int, Event]] = []
    for index, raw in enumerate(body.events):
        event_id = raw.get("event_id") if isinstance(raw, dict) else None
        try:
            event = _EVENT.validate_python(raw)
        except ValidationError as exc:
            results.append(
                EventResult(
                    index=index,
                    event_id=event_id if isinstance(event_id, str) else None,
                    status="rejected",
                    errors=[e.as_dict() for e in event_errors(exc)],
                )
            )
            continue
        valid.append((index, event))
        results.append(EventResult(index=index, event_id=event.event_id, status="accepted"))

    if valid:
        received_at = datetime.now(UTC)
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        headers = (
            ("recsys-tenant", caller.tenant_id.encode()),
            *((k, v.encode()) for k, v in carrier.items()),
        )
        records = [
            OutgoingRecord(
                value=encode_envelope(caller.tenant_id, event, received_at),
                key=event.user_id.encode(),
                headers=headers,
            )
            for _, event in valid
        ]
        topic = topic_name(services.topic_prefix, caller.tenant_id, "events")
        reason = ""
        try:
            outcomes = await run_in_threadpool(
                services.event_log.append, topic, records, services.settings.append_timeout_seconds
            )
        except EventLogUnavailable as exc:
            outcomes = None
            reason = exc.detail
        for n, (index, _) in enumerate(valid):
            outcome = outcomes[n] if outcomes is not None else None
            if outcome is None or not outcome.ok:
                why = outcome.error if outcome is not None else reason
                results[index] = EventResult(
                    index=index,
                    event_id=results[index].event_id,
                    status="unavailable",
                    errors=[{"field": "event", "reason": f"not logged: {why}"}],
                )

    summary = EventBatchResult(
        accepted=sum(r.status == "accepted" for r in results),
        rejected=sum(r.status == "rejected" for r in results),
        unavailable=sum(r.status == "unavailable" for r in results),
        results=results,
    )
    if summary.unavailable:
        # Never a false accept: 503 tells the client to retry; event ids make it safe.
        problem = {
            "type": "https://recsys.dev/problems/dependency-unavailable",
            "title": "Dependency unavailable",
            "status": 503,
            "detail": f"the event log did not acknowledge {summary.unavailable} event(s); "
            "retry the batch (event_id makes it idempotent)",
            **summary.model_dump(),
        }
        return JSONResponse(
            problem,
            status_code=503,
            media_type="application/problem+json",
            headers={"Retry-After": "2"},
        )
    return summary
