"""The REST shim: plain Starlette routes for scripts, cron jobs, CI and browsers.

Handlers raise the errors of statusgraph.errors; the request middleware turns them into
`{"error": "..."}` with the matching status.
"""
