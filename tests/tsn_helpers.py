"""Shared pytest fixtures of the test modules (import them by name into a module to use them)."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Run the module with one torch intra-op thread: the tiny tensors of these tests gain nothing
    from a second thread, and on a machine shared with other jobs a thread waiting for a busy core
    slows every op's barrier several-fold (see tsn.runtime.cpu_threads_beside_workers)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
