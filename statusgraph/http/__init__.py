"""The HTTP edge: the request guard middleware, the GraphQL-over-HTTP view, CORS,
the access log and the Starlette customisations."""
