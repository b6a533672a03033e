"""Thread control of a node."""

import torch

from irl_inr.runtime import thread_limit


def test_thread_limit_sets_and_restores_torch_threads():
    before = torch.get_num_threads()
    with thread_limit(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with thread_limit(None):
        assert torch.get_num_threads() == before
