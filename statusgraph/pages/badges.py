"""Shields-style SVG badges of a page's overall status and of each service, and the same
as JSON for shields.io's endpoint badge (schemaVersion 1), DESIGN §13.

The SVG is built with ElementTree, so a label such as a service's name is text, never
markup. Widths come from a table of Verdana 11px advance widths (the font shields
uses), close enough that the text fits its box.
"""

from xml.etree import ElementTree as ET

from statusgraph.resolvers import vocabulary as v

SVG_NS = "http://www.w3.org/2000/svg"
SVG = "image/svg+xml; charset=utf-8"
MAX_LABEL = 60  # characters; a longer name is cut with an ellipsis

# Status → (message, shields' named colour, its hex).
LOOK = {
    v.ServiceStatus.OPERATIONAL: ("operational", "brightgreen", "#4c1"),
    v.ServiceStatus.DEGRADED_PERFORMANCE: ("degraded performance", "yellow", "#dfb317"),
    v.ServiceStatus.PARTIAL_OUTAGE: ("partial outage", "orange", "#fe7d37"),
    v.ServiceStatus.MAJOR_OUTAGE: ("major outage", "red", "#e05d44"),
    v.ServiceStatus.UNDER_MAINTENANCE: ("under maintenance", "blue", "#007ec6"),
}
LABEL_COLOUR = "#555"
NARROW = set("fijlrt ,.:;'|!()[]{}")
WIDE = set("mwMW@%")


def _width(text: str) -> int:
    """An estimate of `text` at Verdana 11px, in pixels, plus the badge's padding."""
    total = 0.0
    for char in text:
        if char in NARROW:
            total += 3.9
        elif char in WIDE:
            total += 10.5
        elif char.isupper() or char.isdigit():
            total += 7.5
        else:
            total += 6.6
    return round(total) + 10


def short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def svg(label: str, status: v.ServiceStatus) -> bytes:
    label = short(label)
    message, _, colour = LOOK[status]
    left, right = _width(label), _width(message)
    total = left + right
    root = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "width": str(total),
            "height": "20",
            "role": "img",
            "aria-label": f"{label}: {message}",
        },
    )

    def add(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, name, attrs)
        element.text = text
        return element

    add(root, "title", f"{label}: {message}")
    gradient = add(root, "linearGradient", id="s", x2="0", y2="100%")
    add(gradient, "stop", offset="0", **{"stop-color": "#bbb", "stop-opacity": ".1"})
    add(gradient, "stop", offset="1", **{"stop-opacity": ".1"})
    clip = add(root, "clipPath", id="r")
    add(clip, "rect", width=str(total), height="20", rx="3", fill="#fff")
    shapes = add(root, "g", **{"clip-path": "url(#r)"})
    add(shapes, "rect", width=str(left), height="20", fill=LABEL_COLOUR)
    add(shapes, "rect", x=str(left), width=str(right), height="20", fill=colour)
    add(shapes, "rect", width=str(total), height="20", fill="url(#s)")
    text = add(
        root,
        "g",
        fill="#fff",
        **{
            "text-anchor": "middle",
            "font-family": "Verdana,Geneva,DejaVu Sans,sans-serif",
            "font-size": "11",
        },
    )
    for x, content in ((left / 2, label), (left + right / 2, message)):
        add(text, "text", content, x=f"{x:.1f}", y="15", fill="#010101", **{"fill-opacity": ".3"})
        add(text, "text", content, x=f"{x:.1f}", y="14")
    return bytes(ET.tostring(root, encoding="utf-8"))


def endpoint(label: str, status: v.ServiceStatus) -> dict[str, object]:
    """shields.io's endpoint badge schema."""
    message, colour, _ = LOOK[status]
    return {"schemaVersion": 1, "label": short(label), "message": message, "color": colour}
