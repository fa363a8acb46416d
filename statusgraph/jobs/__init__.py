"""Background jobs: the runner, its leases and the jobs themselves (heartbeat
evaluation, purges). Never imports the web stack: `statusgraph worker` runs it alone."""
