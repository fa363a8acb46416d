"""statusgraph: status pages and uptime monitoring behind a typed GraphQL API."""

__version__ = "0.1.0"
