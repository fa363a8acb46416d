"""The hot ping path, fenced off: the batcher, its group writers and the prepared
driver statements (bench/heartbeat.py measures it)."""
