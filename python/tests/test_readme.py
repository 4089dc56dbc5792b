"""The README's examples run as written against a real ring (only the path and timeout differ)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import unittest

from .support import REPO, RingTestCase


class ReadmeTest(RingTestCase):
    def test_examples_run(self) -> None:
        self.write("--batches", "200", "--capacity", "4096", "--seed", "4")
        text = (REPO / "python" / "README.md").read_text()
        blocks = re.findall(r"```python\n(.*?)```", text, re.S)
        self.assertEqual(len(blocks), 3)
        for block in blocks:
            if "alphapulse_shm.bulk" in block and importlib.util.find_spec("numpy") is None:
                continue  # the bulk example needs numpy, which is optional
            code = block.replace("/tmp/alphapulse_shm/kraken.ring", self.path)
            code = code.replace('start="latest"', 'start="oldest"').replace("timeout=None", "timeout=0.3")
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(code, "README.md", "exec"), {})
            self.assertRegex(out.getvalue(), r"(BTC|ETH|PEPE)-USD (buy|sell|unknown) \d+\.\d+|<Record 1 |\d+ records, \d+ trades")


if __name__ == "__main__":
    unittest.main()
