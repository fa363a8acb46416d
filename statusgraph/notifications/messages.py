"""What an event says, in words, for the channels people read (Slack, Discord, email):
one title, one line or two of text, a colour, and a link. The webhook channel sends the
event's data itself instead (integrations/webhook).

Moments in the text are written in the organization's time zone with its abbreviation
("29 Nov 2026, 14:05 CET", statusgraph/local_time); the webhook payload keeps the
event's ISO 8601 UTC values."""

from dataclasses import dataclass, field
from typing import Any

from statusgraph.events.outbox import EventType
from statusgraph.local_time import when_text

# Colours as Slack and Discord show them beside a message.
RED, GREEN, AMBER, BLUE, GREY = "#d93f0b", "#2da44e", "#d4a72c", "#0969da", "#6e7781"


@dataclass(frozen=True, slots=True)
class Subject:
    """An event with what the dispatcher read about it when it sent it: the monitor
    (name, type, target) and the services (names), each as it is now."""

    id: str
    type: str
    organization_id: str
    organization_name: str
    created_at: str
    data: dict[str, Any]
    monitor: dict[str, Any] | None = None
    services: list[dict[str, str]] = field(default_factory=list)
    time_zone: str = "UTC"  # the organization's, for the moments the text shows

    def payload(self) -> dict[str, Any]:
        """The JSON a webhook receives: Standard Webhooks' recommended shape, type,
        timestamp and data."""
        data: dict[str, Any] = {
            "eventId": self.id,
            "organizationId": self.organization_id,
            **self.data,
        }
        if self.monitor is not None:
            data["monitor"] = self.monitor
        if self.services:
            data["services"] = self.services
        return {"type": self.type, "timestamp": self.created_at, "data": data}


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    text: str
    color: str
    link: str | None


def _services(subject: Subject) -> str:
    names = [service["name"] for service in subject.services]
    return f"Affected: {', '.join(names)}." if names else ""


def _lines(*parts: str | None) -> str:
    return "\n".join(part for part in parts if part)


def compose(subject: Subject, *, base_url: str) -> Message:
    """The message for `subject`; `base_url` is where this server is reached."""
    data, kind = subject.data, subject.type
    monitor = subject.monitor or {}
    name = monitor.get("name", data.get("monitorId", "monitor"))
    target = monitor.get("target")
    graphql = f"{base_url}/graphql"
    if kind == EventType.MONITOR_DOWN:
        again = " (still down)" if data.get("reminder") else ""
        return Message(
            f"🔴 {name} is DOWN{again}",
            _lines(f"Reason: {data.get('reason', '')}", target and f"Target: {target}"),
            RED,
            graphql,
        )
    if kind == EventType.MONITOR_UP:
        return Message(
            f"🟢 {name} is UP again",
            _lines(f"Reason: {data.get('reason', '')}", target and f"Target: {target}"),
            GREEN,
            graphql,
        )
    if kind in (EventType.CERTIFICATE_EXPIRING, EventType.DOMAIN_EXPIRING):
        what = "certificate" if kind == EventType.CERTIFICATE_EXPIRING else "domain registration"
        return Message(
            f"🟠 {name}: {what} expiring",
            _lines(data.get("reason"), target and f"Target: {target}"),
            AMBER,
            graphql,
        )
    if kind.startswith("incident."):
        state = {"incident.created": "New incident", "incident.resolved": "Resolved"}.get(
            kind, "Update"
        )
        color = GREEN if kind == EventType.INCIDENT_RESOLVED else RED
        return Message(
            f"{state}: {data.get('title', '')}",
            _lines(f"[{data.get('status', '')}] {data.get('message', '')}", _services(subject)),
            color,
            graphql,
        )
    if kind.startswith("maintenance."):
        phase = kind.removeprefix("maintenance.")
        return Message(
            f"Maintenance {phase}: {data.get('title', '')}",
            _lines(
                f"From {when_text(data.get('startsAt'), subject.time_zone)} "
                f"to {when_text(data.get('endsAt'), subject.time_zone)}.",
                data.get("description"),
                _services(subject),
            ),
            BLUE,
            graphql,
        )
    if kind == EventType.SERVICE_STATUS_CHANGED:
        names = ", ".join(service["name"] for service in subject.services) or "A service"
        to = str(data.get("to", "")).replace("_", " ")
        return Message(f"{names} is now {to}", f"Was {data.get('from', '')}.", AMBER, graphql)
    if kind == EventType.CHANNEL_DISABLED:
        return Message(
            f"Notification channel {data.get('name', '')} was disabled",
            str(data.get("reason", "")),
            GREY,
            graphql,
        )
    if kind == EventType.API_KEY_FIRST_USE:
        return Message(
            f"API key {data.get('apiKeyName', '')} was used for the first time",
            f"From {data.get('ip') or 'an unknown address'}.",
            BLUE,
            graphql,
        )
    if kind == EventType.API_KEY_RATE_LIMIT_80:
        return Message(
            f"API key {data.get('apiKeyName', '')} has used 80 % of its rate limit",
            f"{data.get('threshold', '')} of {data.get('limit', '')} requests in the "
            f"{data.get('bucket', '')} bucket; the window ends at "
            f"{when_text(data.get('windowEndsAt'), subject.time_zone)}.",
            AMBER,
            graphql,
        )
    if kind == EventType.API_KEY_NEW_IP:
        return Message(
            f"API key {data.get('apiKeyName', '')} used from a new address",
            f"{data.get('ip', '')}: not seen for this key in the last 30 days.",
            AMBER,
            graphql,
        )
    if kind == EventType.WORKFLOW:
        return Message(
            f"Workflow {data.get('workflowName', '')}",
            _lines(str(data.get("message", "")), target and f"Target: {target}"),
            BLUE,
            graphql,
        )
    if kind == EventType.TEST:
        return Message(
            "Test notification from statusgraph",
            f"Channel {data.get('name', '')} of {subject.organization_name} works.",
            BLUE,
            graphql,
        )
    return Message(kind, "", GREY, graphql)
