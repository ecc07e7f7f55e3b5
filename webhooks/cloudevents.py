"""A delivery's body: a CloudEvents 1.0 structured JSON document, made by the CloudEvents SDK."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from cloudevents.core.bindings.http import to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from django.conf import settings

CONTENT_TYPE = "application/cloudevents+json"


def structured(event_id: UUID, event_type: str, subject: UUID | None, time: datetime, data: dict) -> str:
    """`id` is the event's own id (a receiver deduplicates by it), `subject` the product's id (none
    for a test delivery, which is about no product)."""
    attributes = {"specversion": "1.0", "id": str(event_id), "source": settings.WEBHOOK_SOURCE, "type": event_type,
                  "time": time, "datacontenttype": "application/json"}
    if subject is not None:
        attributes["subject"] = str(subject)
    event = CloudEvent(attributes=attributes, data=data)
    return to_structured(event, JSONFormat()).body.decode()
