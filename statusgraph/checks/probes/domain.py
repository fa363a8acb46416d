"""DOMAIN probe: when a domain's registration expires, from RDAP (DESIGN §10).

The RDAP server of a top-level domain comes from IANA's bootstrap file (RFC 9224), whose
address is a setting (STATUSGRAPH_RDAP_BOOTSTRAP_URL) so that tests serve their own.
Registrations change rarely and registries rate-limit: the bootstrap file is kept a
day and each domain's registration 12 hours, so a registered domain is asked about at
most twice a day however often its monitor runs (a failed lookup is tried again at the
next check). Requests go through the checks' guarded HTTP session.
"""

import dataclasses
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from statusgraph.checks.probes import Failure, Outcome, Registration, down

BOOTSTRAP_FOR = timedelta(days=1)
ANSWER_FOR = timedelta(hours=12)
DEFAULT_THRESHOLD_DAYS = 30
TIMEOUT = aiohttp.ClientTimeout(total=20)


LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


class RdapError(Exception):
    pass


@dataclass(slots=True)
class _Kept:
    value: Any
    until: datetime


def normalize(domain: str) -> str:
    """Lower case, no trailing dot, IDNA (ASCII) labels of letters, digits and hyphens:
    the name goes into the RDAP server's URL, so nothing else may."""
    cleaned = domain.strip().rstrip(".").lower()
    try:
        ascii_name = cleaned.encode("idna").decode("ascii")
    except UnicodeError as error:
        raise RdapError(f"{domain!r} is not a valid domain name") from error
    labels = ascii_name.split(".")
    if len(labels) < 2 or not all(LABEL.fullmatch(label) for label in labels):
        raise RdapError(f"{domain!r} is not a valid domain name")
    return ascii_name


class Rdap:
    def __init__(self, session: aiohttp.ClientSession, bootstrap_url: str) -> None:
        self.session = session
        self.bootstrap_url = bootstrap_url
        self._bootstrap: _Kept | None = None
        self._answers: dict[str, _Kept] = {}
        self._pruned_at = datetime.min.replace(tzinfo=UTC)

    async def _json(self, url: str) -> Any:
        headers = {"Accept": "application/rdap+json, application/json"}
        async with self.session.get(url, headers=headers, timeout=TIMEOUT) as response:
            if response.status == 404:
                return None
            if response.status != 200:
                raise RdapError(f"{url} answered status {response.status}")
            try:
                return await response.json(content_type=None)
            except ValueError as error:
                raise RdapError(f"{url} did not answer JSON") from error

    async def _services(self, now: datetime) -> list[Any]:
        if self._bootstrap is None or now >= self._bootstrap.until:
            document = await self._json(self.bootstrap_url)
            if not isinstance(document, dict) or not isinstance(document.get("services"), list):
                raise RdapError("the RDAP bootstrap file has no services")
            self._bootstrap = _Kept(document["services"], now + BOOTSTRAP_FOR)
        services: list[Any] = self._bootstrap.value
        return services

    async def base_url(self, domain: str, now: datetime) -> str:
        """The RDAP server for the domain's longest matching suffix in the bootstrap."""
        best: tuple[int, str] | None = None
        for service in await self._services(now):
            if not (isinstance(service, list) and len(service) == 2):
                continue
            suffixes, urls = service
            addresses = [u for u in urls if isinstance(u, str)] if isinstance(urls, list) else []
            # HTTPS first, as RFC 9224 asks of clients that have the choice.
            addresses.sort(key=lambda u: not u.startswith("https://"))
            if not addresses or not isinstance(suffixes, list):
                continue
            for suffix in suffixes:
                if isinstance(suffix, str) and (domain == suffix or domain.endswith("." + suffix)):
                    length = suffix.count(".") + 1
                    if best is None or length > best[0]:
                        best = (length, addresses[0])
        if best is None:
            raise RdapError(f"no RDAP service for .{domain.rsplit('.', 1)[-1]}")
        return best[1] if best[1].endswith("/") else best[1] + "/"

    async def registration(self, domain: str, now: datetime) -> Registration:
        kept = self._answers.get(domain)
        if kept is not None and now < kept.until:
            cached: Registration = kept.value
            # Days left as of now, not as of the lookup: a threshold crossed while the
            # answer is kept shows at once.
            return dataclasses.replace(cached, days_left=_days_left(cached.expires_at, now))
        if now >= self._pruned_at + ANSWER_FOR:
            # Answers past their time go twice a keeping period at most: the cache holds
            # the domains still being checked, not every domain ever checked.
            self._answers = {name: k for name, k in self._answers.items() if now < k.until}
            self._pruned_at = now
        url = f"{await self.base_url(domain, now)}domain/{domain}"
        answer = await self._json(url)
        if answer is None:
            raise RdapError(f"RDAP has no record of {domain}")
        expires = _expiration(answer)
        if expires is None:
            raise RdapError(f"RDAP gives no expiration date for {domain}")
        found = Registration(
            domain=domain,
            registrar=_registrar(answer),
            expires_at=expires,
            days_left=_days_left(expires, now),
        )
        self._answers[domain] = _Kept(found, now + ANSWER_FOR)
        return found


def _days_left(expires: datetime, now: datetime) -> int:
    return math.floor((expires - now).total_seconds() / 86400)


def _listed(value: Any, key: str) -> list[Any]:
    """value[key] when value is an object and that is a list; else nothing."""
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, list) else []


def _expiration(answer: Any) -> datetime | None:
    for event in _listed(answer, "events"):
        if isinstance(event, dict) and event.get("eventAction") == "expiration":
            text = str(event.get("eventDate"))
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                return None
            if parsed.tzinfo is None and "T" not in text:
                return parsed.replace(tzinfo=UTC)  # a date alone: its start, in UTC
            return parsed if parsed.tzinfo is not None else None
    return None


def _registrar(answer: dict[str, Any]) -> str | None:
    """The registrar entity's name (its vCard `fn`), if the answer gives one."""
    for entity in _listed(answer, "entities"):
        if "registrar" not in _listed(entity, "roles"):
            continue
        vcard = entity.get("vcardArray")
        if isinstance(vcard, list) and len(vcard) == 2 and isinstance(vcard[1], list):
            for item in vcard[1]:
                if isinstance(item, list) and len(item) == 4 and item[0] == "fn":
                    return str(item[3])
    return None


async def probe_domain(
    rdap: Rdap, domain: str, *, now: datetime, threshold_days: int = DEFAULT_THRESHOLD_DAYS
) -> Outcome:
    try:
        name = normalize(domain)
        found = await rdap.registration(name, now)
    except RdapError as error:
        return down(Failure.RDAP, str(error))
    except (aiohttp.ClientError, TimeoutError) as error:
        return down(
            Failure.RDAP, f"the RDAP server did not answer: {error or type(error).__name__}"
        )
    days = found.days_left
    if days < threshold_days:
        when = "has expired" if days < 0 else f"expires in {days} day{'s' if days != 1 else ''}"
        return down(Failure.REGISTRATION, f"registration {when}", registration=found)
    return Outcome(up=True, reason=f"registered for {days} more days", registration=found)
