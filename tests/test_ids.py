"""Ids (ids.py): random base62 ids, and ordered ids that sort by creation time."""

from statusgraph import ids


class TestIds:
    def test_random_ids_use_base62_and_do_not_repeat(self):
        made = {ids.new_id("png") for _ in range(2000)}
        assert len(made) == 2000
        for made_id in made:
            prefix, rest = made_id.split("_")
            assert prefix == "png"
            assert len(rest) == 22
            assert set(rest) <= set(ids.BASE62)

    def test_every_base62_character_turns_up(self):
        assert set(ids.random_base62(5000)) == set(ids.BASE62)

    def test_ordered_ids_sort_by_creation_time(self, monkeypatch):
        now = [1_800_000_000_000_000_000]
        monkeypatch.setattr("statusgraph.ids.time.time_ns", lambda: now[0])
        earlier = ids.new_ordered_ids("png", 1)[0]
        now[0] += 1_000_000  # one millisecond later
        later = ids.new_ordered_ids("png", 1)[0]
        assert earlier < later
        assert earlier[:12] != later[:12]
        assert earlier[12:] != later[12:]
        assert len(later) == len("png_") + 22


class TestOrderedIdBatches:
    def test_a_batch_shares_the_millisecond_and_nothing_else(self):
        batch = ids.new_ordered_ids("png", 40)
        assert len(batch) == 40
        assert len({pid[:12] for pid in batch}) == 1
        assert len(set(batch)) == 40
        assert all(
            len(pid) == len("png_") + 22 and set(pid[4:]) <= set(ids.BASE62) for pid in batch
        )
