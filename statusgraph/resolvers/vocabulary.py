"""The status domain's enumerations. Values are what the database stores; member names
are what GraphQL shows (UPPER_SNAKE), so `FontFamily.DM_SANS` is stored as "dm-sans"."""

from enum import StrEnum


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    INTERNAL = "internal"


class ThemeMode(StrEnum):
    LIGHT = "light"
    DARK = "dark"
    SYSTEM = "system"


class Theme(StrEnum):
    DEFAULT = "default"
    MINIMAL = "minimal"
    CORPORATE = "corporate"
    NEON = "neon"
    OCEAN = "ocean"
    SUNSET = "sunset"


class FontFamily(StrEnum):
    INTER = "inter"
    DM_SANS = "dm-sans"
    SPACE_GROTESK = "space-grotesk"
    JETBRAINS_MONO = "jetbrains-mono"
    POPPINS = "poppins"
    MERRIWEATHER = "merriweather"
    SYSTEM = "system"


class HeaderLayout(StrEnum):
    CENTERED = "centered"
    LEFT_ALIGNED = "left-aligned"


class BorderRadius(StrEnum):
    ROUNDED = "rounded"
    SHARP = "sharp"
    PILL = "pill"


class AnnouncementStyle(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
    MAINTENANCE = "maintenance"


class ServiceStatus(StrEnum):
    OPERATIONAL = "operational"
    UNDER_MAINTENANCE = "under_maintenance"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"


# Worst wins. Maintenance ranks above operational (it is not business as usual) but
# below any outage, which is unplanned and says more.
SEVERITY = {status: rank for rank, status in enumerate(ServiceStatus)}


def worst(statuses: "list[ServiceStatus] | tuple[ServiceStatus, ...]") -> ServiceStatus:
    return max(statuses, key=SEVERITY.__getitem__, default=ServiceStatus.OPERATIONAL)


class IncidentStatus(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class IncidentImpact(StrEnum):
    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


class MaintenanceStatus(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# Which visibilities each plan may use (DESIGN §3).
PLAN_VISIBILITIES = {
    "starter": frozenset({Visibility.PUBLIC}),
    "pro": frozenset({Visibility.PUBLIC, Visibility.PRIVATE}),
    "team": frozenset(Visibility),
    "enterprise": frozenset(Visibility),
}
# How many status pages each plan may have; None is unlimited.
PLAN_PAGE_LIMITS = {"starter": 1, "pro": 2, "team": 3, "enterprise": None}
