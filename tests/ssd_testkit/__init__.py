"""The test suite's helpers: fixtures, toy models and data, faulty datasets,
reference implementations and the modules and scripts its subprocesses run.

Imported as ``ssd_testkit.<module>``: ``tests/`` is on ``sys.path`` in pytest
(``pythonpath`` in setup.cfg). A ``tools/`` subprocess whose config imports one
of them (``custom_imports``) gets :data:`SYS_PATH_ENTRY` on its PYTHONPATH;
entry points the tests run as files lie in :data:`DIR`.
"""
from pathlib import Path

DIR = Path(__file__).resolve().parent
SYS_PATH_ENTRY = DIR.parent
