"""GraphQL enums over the domain's (resolvers/vocabulary.py): member names are the
GraphQL values, e.g. FontFamily.DM_SANS, stored as "dm-sans". `strawberry.enum`
registers each class in place, so schema modules use the domain classes as they are."""

import strawberry

from statusgraph.resolvers.vocabulary import (
    AnnouncementStyle,
    BorderRadius,
    FontFamily,
    HeaderLayout,
    IncidentImpact,
    IncidentStatus,
    MaintenanceStatus,
    ServiceStatus,
    Theme,
    ThemeMode,
    Visibility,
)

for _enum in (
    AnnouncementStyle,
    BorderRadius,
    FontFamily,
    HeaderLayout,
    IncidentImpact,
    IncidentStatus,
    MaintenanceStatus,
    ServiceStatus,
    Theme,
    ThemeMode,
):
    strawberry.enum(_enum)
strawberry.enum(Visibility, name="StatusPageVisibility")
StatusPageVisibility = Visibility

__all__ = [
    "AnnouncementStyle",
    "BorderRadius",
    "FontFamily",
    "HeaderLayout",
    "IncidentImpact",
    "IncidentStatus",
    "MaintenanceStatus",
    "ServiceStatus",
    "StatusPageVisibility",
    "Theme",
    "ThemeMode",
]
