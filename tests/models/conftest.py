"""Model tests run torch single-threaded.

On a shared 2-core machine, two OpenMP threads stall at every parallel region whenever another
process holds a core, which made these tests 10-20x slower than the arithmetic requires.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
