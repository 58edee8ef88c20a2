"""Shared pytest set-up: keep numerical libraries to one thread so the suite behaves on 2 cores,
and start the longest test files first.

The suite runs on two pytest-xdist workers, one file at a time each (`-n 2 --dist loadfile
--no-loadscope-reorder`, pyproject.toml: files are handed out in collection order, not
xdist's most-tests-first). The few long files (whole workflow runs, the package-index check)
go first and the many short ones fill in after; otherwise one worker would end alone with
the last workflow files.
"""

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

LONG_FIRST = ("tests/workflow/", "tests/test_install.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = config.rootpath

    def long(item: pytest.Item) -> bool:
        return item.path.relative_to(root).as_posix().startswith(LONG_FIRST)

    items.sort(key=lambda item: not long(item))  # stable: file order kept within each part
