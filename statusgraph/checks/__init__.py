"""Active checks (DESIGN §10): probes, their scheduler, results and rollups."""
