"""The same ring decoded by the TypeScript reader and by alphapulse_shm gives identical records,
gaps and books (levels, status and topic counts), compared as JSON lines."""

from __future__ import annotations

import unittest
from typing import Any

from .support import COUNT_KEYS, RingTestCase, py_dump, ts_dump

class ConformanceTest(RingTestCase):
    def assert_same(self, start: int | str) -> list[dict[str, Any]]:
        ours = py_dump(self.path, start)
        theirs = ts_dump(self.path, start)
        self.assertEqual(len(ours), len(theirs))
        for mine, reference in zip(ours, theirs, strict=True):
            if "book" in reference:
                self.assertTrue(all(key in reference for key in COUNT_KEYS), reference)
            self.assertEqual(mine, reference)
        return ours

    def test_whole_ring_without_lapping(self) -> None:
        summary = self.write("--batches", "400", "--capacity", "4096", "--depth", "8")
        lines = self.assert_same(1)
        records = [line for line in lines if "seq" in line]
        self.assertEqual(len(records), summary["nextSeq"] - 1)
        self.assertEqual(len([line for line in lines if "book" in line]), 3)
        self.assertTrue(any(line["type"] == 1 for line in records), "no trades written")
        self.assertTrue(any(line["type"] == 4 for line in records), "no book status written")

    def test_lapped_ring_from_the_start_reports_the_same_gap(self) -> None:
        summary = self.write("--batches", "300", "--capacity", "64")
        lines = self.assert_same(1)
        self.assertIn("gap", lines[0])
        self.assertEqual(lines[0]["gap"], 1)
        first_seq = lines[1]["seq"]
        self.assertEqual(lines[0]["lost"], first_seq - 1)
        records = [line for line in lines if "seq" in line]
        self.assertEqual(records[-1]["seq"], summary["nextSeq"] - 1)

    def test_lapped_ring_from_oldest_and_latest(self) -> None:
        self.write("--batches", "300", "--capacity", "128", "--seed", "7")
        from_oldest = self.assert_same("oldest")
        self.assertNotIn("gap", from_oldest[0])
        self.assertEqual(len([line for line in from_oldest if "seq" in line]), 127)
        from_latest = self.assert_same("latest")
        self.assertEqual([line for line in from_latest if "seq" in line], [])

    def test_hole_in_a_copy_reports_the_same_gap(self) -> None:
        summary = self.write("--batches", "300", "--capacity", "4096", "--jump-at", "150", "--jump-by", "37")
        lines = self.assert_same(1)
        gaps = [line for line in lines if "gap" in line]
        self.assertEqual(len(gaps), 1)
        self.assertEqual(gaps[0]["lost"], 37)
        records = [line for line in lines if "seq" in line]
        self.assertEqual(records[-1]["seq"], summary["nextSeq"] - 1)
        from_oldest = self.assert_same("oldest")
        self.assertNotIn("gap", from_oldest[0])
        self.assertEqual(from_oldest[0]["seq"], gaps[0]["gap"] + 37)


if __name__ == "__main__":
    unittest.main()
