from datetime import datetime
from enum import Enum

import strawberry

from statusgraph.db import models
from statusgraph.schema.relay import Node


@strawberry.enum
class Plan(Enum):
    STARTER = "starter"
    PRO = "pro"
    TEAM = "team"
    ENTERPRISE = "enterprise"


@strawberry.type
class Organization(Node):
    name: str
    slug: str
    plan: Plan
    created_at: datetime

    @classmethod
    def of(cls, row: models.Organization) -> "Organization":
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            slug=row.slug,
            plan=Plan(row.plan),
            created_at=row.created_at,
        )
