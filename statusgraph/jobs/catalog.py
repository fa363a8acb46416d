"""Every background job, with its interval from the settings, and the runner for them."""

from statusgraph.auth.sealed import Sealer
from statusgraph.auth.subscriber_tokens import SubscriberTokens
from statusgraph.checks.guard import Guard
from statusgraph.checks.prober import Prober
from statusgraph.checks.scheduler import Checker
from statusgraph.clock import Clock, utcnow
from statusgraph.config import Settings
from statusgraph.db.engine import SessionFactory
from statusgraph.events.bus import Bus, bus_for
from statusgraph.jobs import (
    audit_purge,
    check_retention,
    heartbeat_evaluation,
    key_policy,
    maintenance_events,
    reminders,
)
from statusgraph.jobs.runner import Job, JobRunner
from statusgraph.notifications.mail import SmtpServer
from statusgraph.notifications.notifier import Notifier
from statusgraph.notifications.transport import Transport


def jobs_for(settings: Settings) -> list[Job]:
    return [
        heartbeat_evaluation.job(settings.heartbeat_evaluate_seconds),
        audit_purge.job(settings.audit_purge_seconds),
        key_policy.job(settings.key_policy_seconds),
        check_retention.job(
            settings.check_retention_seconds,
            results_days=settings.check_results_retention_days,
        ),
        maintenance_events.job(settings.maintenance_events_seconds),
        reminders.job(settings.reminders_seconds),
    ]


def prober_for(settings: Settings) -> Prober:
    return Prober(
        Guard(allow_private=settings.checks_allow_private_networks),
        rdap_bootstrap_url=settings.rdap_bootstrap_url,
        concurrency=settings.check_concurrency,
    )


def checker_for(
    settings: Settings, db: SessionFactory, *, clock: Clock = utcnow, prober: Prober | None = None
) -> Checker:
    """The active checks' scheduler (checks/scheduler.py), run by every process that runs
    the jobs; `prober`: how to reach targets (tests give one that trusts their servers)."""
    return Checker(
        db,
        prober or prober_for(settings),
        concurrency=settings.check_concurrency,
        clock=clock,
        report_seconds=settings.check_report_seconds,
    )


def transport_for(settings: Settings) -> Transport:
    smtp_url = settings.smtp_url
    smtp = SmtpServer.parse(smtp_url.get_secret_value()) if smtp_url is not None else None
    return Transport(
        Guard(allow_private=settings.checks_allow_private_networks),
        timeout=settings.notification_timeout_seconds,
        base_url=settings.base_url,
        smtp=smtp,
        smtp_from=settings.smtp_from,
        smtp_timeout=settings.smtp_timeout_seconds,
    )


def notifier_for(
    settings: Settings,
    db: SessionFactory,
    *,
    clock: Clock = utcnow,
    transport: Transport | None = None,
    bus: Bus | None = None,
) -> Notifier:
    """The notifier (notifications/notifier.py), run by every process that runs the
    jobs; `transport`: how to reach receivers (tests give one that trusts their servers).
    `bus`: where it publishes the events it dispatches, the web process's own; without
    one (a worker), a Redis bus of its own when STATUSGRAPH_EVENTS_URL is set, else none:
    a worker has no subscribers of its own to tell."""
    owns_bus = False
    if bus is None and settings.events_url:
        bus = events_bus_for(settings)
        owns_bus = True
    return Notifier(
        db,
        transport or transport_for(settings),
        Sealer(settings.pepper()),
        SubscriberTokens(settings.pepper()),
        concurrency=settings.notification_concurrency,
        poll_seconds=settings.notification_poll_seconds,
        clock=clock,
        bus=bus,
        owns_bus=owns_bus,
    )


def events_bus_for(settings: Settings) -> Bus:
    return bus_for(
        settings.events_url, channel=settings.events_channel, queue_size=settings.events_queue_size
    )


def runner_for(
    settings: Settings,
    db: SessionFactory,
    *,
    role: str,
    clock: Clock = utcnow,
    bus: Bus | None = None,
) -> JobRunner:
    """The runner of every job for a process of `role` (serve or worker). On SQLite one
    process runs the jobs: the runner is exclusive there. `bus`: the web process's event
    bus (notifier_for)."""
    return JobRunner(
        db,
        jobs_for(settings),
        role=role,
        lease_seconds=settings.jobs_lease_seconds,
        shutdown_seconds=settings.jobs_shutdown_seconds,
        exclusive=settings.is_sqlite,
        clock=clock,
        services=[
            checker_for(settings, db, clock=clock),
            notifier_for(settings, db, clock=clock, bus=bus),
        ],
    )
