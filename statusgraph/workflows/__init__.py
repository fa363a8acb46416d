"""Workflows' engine: runs saved automations on monitor transitions and by hand."""
