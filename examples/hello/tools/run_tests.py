"""Run the hello package's unit tests; write `tests=N` (the number run) to $PLUE_OUTPUT."""

import os
import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent  # examples/hello
sys.path.insert(0, str(HERE / "src"))

suite = unittest.defaultTestLoader.discover(str(HERE / "tests"), top_level_dir=str(HERE / "tests"))
result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
with open(os.environ["PLUE_OUTPUT"], "a", encoding="utf-8") as handle:
    handle.write(f"tests={result.testsRun}\n")
sys.exit(0 if result.wasSuccessful() else 1)
