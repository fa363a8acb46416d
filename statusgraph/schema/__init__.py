"""The GraphQL schema: Strawberry types, inputs, payloads and the scope directive. No SQL.

`statusgraph.schema:schema` is what `statusgraph export-schema` prints to schema.graphql.
"""

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from statusgraph.schema.api_keys import ApiKeyMutations, ApiKeyQueries
from statusgraph.schema.audit import AuditEvent, AuditQueries
from statusgraph.schema.error_masking import MaskUnexpectedErrors
from statusgraph.schema.incidents import IncidentMutations, IncidentQueries
from statusgraph.schema.ingest import IngestMutations, IngestQueries
from statusgraph.schema.introspection import AnonymousIntrospectionGuard
from statusgraph.schema.limits import BoundedValidation, CachedParser, QueryLimitsGuard
from statusgraph.schema.live import Subscription
from statusgraph.schema.maintenance import MaintenanceMutations, MaintenanceQueries
from statusgraph.schema.monitors import MonitorMutations, MonitorQueries
from statusgraph.schema.node import NodeQueries
from statusgraph.schema.notifications import NotificationMutations, NotificationQueries
from statusgraph.schema.oauth_apps import OAuthAppMutations, OAuthAppQueries
from statusgraph.schema.organizations import (
    Organization,
    OrganizationMutations,
    OrganizationQueries,
)
from statusgraph.schema.public import PublicQueries
from statusgraph.schema.scalars import SCALAR_MAP, StringLiteralsGuard
from statusgraph.schema.services import ServiceMutations, ServiceQueries
from statusgraph.schema.status_pages import StatusPageMutations, StatusPageQueries
from statusgraph.schema.subscribers import SubscriberMutations, SubscriberQueries
from statusgraph.schema.team import TeamMutations, TeamQueries
from statusgraph.schema.viewer import ViewerQueries
from statusgraph.schema.workflows import WorkflowMutations, WorkflowQueries


@strawberry.type
class Query(
    ViewerQueries,
    NodeQueries,
    PublicQueries,
    StatusPageQueries,
    ServiceQueries,
    IncidentQueries,
    MaintenanceQueries,
    NotificationQueries,
    SubscriberQueries,
    MonitorQueries,
    IngestQueries,
    ApiKeyQueries,
    AuditQueries,
    OAuthAppQueries,
    TeamQueries,
    OrganizationQueries,
    WorkflowQueries,
):
    pass


@strawberry.type
class Mutation(
    StatusPageMutations,
    ServiceMutations,
    IncidentMutations,
    MaintenanceMutations,
    NotificationMutations,
    SubscriberMutations,
    MonitorMutations,
    IngestMutations,
    ApiKeyMutations,
    OAuthAppMutations,
    TeamMutations,
    OrganizationMutations,
    WorkflowMutations,
):
    pass


class StatusGraphSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Strawberry logs every error with a traceback, denied scopes included. We log
        # only unexpected exceptions, with the request id (schema/error_masking.py).
        return None


def build_schema() -> StatusGraphSchema:
    extensions: list[Any] = [
        # First, so that it masks what every other extension and resolver reports.
        MaskUnexpectedErrors,
        CachedParser,
        BoundedValidation,
        AnonymousIntrospectionGuard,
        QueryLimitsGuard,
        StringLiteralsGuard,
    ]
    return StatusGraphSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Organization, AuditEvent],
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=True, scalar_map=SCALAR_MAP),
    )


schema = build_schema()
