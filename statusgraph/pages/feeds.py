"""Atom and RSS 2.0 feeds of a status page's incidents (with their updates) and
maintenance (DESIGN §13), written with ElementTree, which escapes every text and
attribute: a title or message is data, never markup.

Dates in the entries' text are in the organization's time zone with its abbreviation
("29 Nov 2026, 14:05 CET", statusgraph/local_time); the feeds' own dates (Atom's
`updated`, RSS's `pubDate`) stay in UTC, in the formats their RFCs require.

One entry per incident (its id the incident's page, updated at its latest update, the
timeline as text, newest first) and one per maintenance window shown; newest first.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.etree import ElementTree as ET

from statusgraph.local_time import utc_iso, when
from statusgraph.pages.reading import Read
from statusgraph.schema.public import PublicIncident, PublicMaintenance

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM = "application/atom+xml; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    link: str
    title: str
    text: str
    published: datetime
    updated: datetime


def _incident(incident: PublicIncident, page_url: str, zone: str) -> Item:
    link = f"{page_url}/incidents/{incident.id}"
    lines = [
        f"{when(u.created_at, zone)} - {u.status.value.replace('_', ' ').capitalize()}: {u.message}"
        for u in reversed(incident.updates)
    ]
    impact = incident.impact.value
    status = incident.status.value
    updated = max([incident.started_at, *(u.created_at for u in incident.updates)])
    return Item(
        id=link,
        link=link,
        title=f"{incident.title} ({status}, {impact} impact)",
        text="\n".join(lines) or incident.title,
        published=incident.started_at,
        updated=incident.resolved_at or updated,
    )


def _maintenance(window: PublicMaintenance, page_url: str, zone: str) -> Item:
    services = ", ".join(service.name for service in window.services)
    text = f"{when(window.starts_at, zone)} to {when(window.ends_at, zone)}"
    if services:
        text += f"; affects {services}"
    if window.description:
        text += f"\n{window.description}"
    return Item(
        id=f"{page_url}#maintenance-{window.id}",
        link=page_url,
        title=f"Maintenance: {window.title} ({window.status.value.replace('_', ' ')})",
        text=text,
        published=window.starts_at,
        updated=window.starts_at,
    )


def items(read: Read, base_url: str) -> list[Item]:
    page_url = f"{base_url}/status/{read.page.slug}"
    incidents = [*read.shown.active_incidents, *read.shown.incident_history]
    found = [_incident(each, page_url, read.zone) for each in incidents]
    found += [_maintenance(each, page_url, read.zone) for each in read.shown.maintenance]
    return sorted(found, key=lambda item: item.updated, reverse=True)


def atom(read: Read, base_url: str) -> bytes:
    page_url = f"{base_url}/status/{read.page.slug}"
    listed = items(read, base_url)
    # Unqualified names under a default namespace declared on the root: ElementTree's
    # default_namespace option refuses unqualified attribute names (rel, href).
    feed = ET.Element("feed", {"xmlns": ATOM_NS})

    def child(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, name, attrs)
        element.text = text
        return element

    child(feed, "id", f"{page_url}/feed.atom")
    child(feed, "title", f"{read.page.name} status")
    newest = max([read.page.updated_at, *(item.updated for item in listed)])
    child(feed, "updated", utc_iso(newest))
    child(feed, "link", rel="self", href=f"{page_url}/feed.atom", type="application/atom+xml")
    child(feed, "link", rel="alternate", href=page_url, type="text/html")
    author = child(feed, "author")
    child(author, "name", read.page.name)
    for item in listed:
        entry = child(feed, "entry")
        child(entry, "id", item.id)
        child(entry, "title", item.title)
        child(entry, "link", rel="alternate", href=item.link, type="text/html")
        child(entry, "published", utc_iso(item.published))
        child(entry, "updated", utc_iso(item.updated))
        child(entry, "content", item.text, type="text")
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))


def rss(read: Read, base_url: str) -> bytes:
    page_url = f"{base_url}/status/{read.page.slug}"
    listed = items(read, base_url)
    root = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(root, "channel")

    def child(parent: ET.Element, name: str, text: str, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, name, attrs)
        element.text = text
        return element

    child(channel, "title", f"{read.page.name} status")
    child(channel, "link", page_url)
    child(channel, "description", read.page.tagline or f"Status of {read.page.name}")
    newest = max([read.page.updated_at, *(item.updated for item in listed)])
    child(channel, "lastBuildDate", format_datetime(newest.astimezone(UTC), usegmt=True))
    for item in listed:
        element = ET.SubElement(channel, "item")
        child(element, "title", item.title)
        child(element, "link", item.link)
        child(element, "guid", item.id, isPermaLink="false")
        child(element, "pubDate", format_datetime(item.updated.astimezone(UTC), usegmt=True))
        child(element, "description", item.text)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))
