"""Device resolution, the precision choice (bf16 on CUDA, and on CPUs with native bf16 on
request) and the CUDA-only compile."""

from __future__ import annotations

import contextlib
import logging

import pytest
import torch

import irl_inr.training.device as device_module
from irl_inr.training import resolve_device
from irl_inr.training.device import autocast_context, autocast_dtype, maybe_compile


def test_cpu_and_auto_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_auto_picks_cuda_when_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_cuda_requested_without_cuda_is_an_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        resolve_device("cuda")


def test_missing_cuda_index_is_an_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(RuntimeError, match="only 1 CUDA device"):
        resolve_device("cuda:3")


@pytest.mark.parametrize("name", ["gpu", "mps", "cuda:x", 3])
def test_unknown_device_names(name):
    with pytest.raises(ValueError):
        resolve_device(name)


def test_precision_is_bf16_on_cuda_and_on_request_on_bf16_cpus(monkeypatch, caplog):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    assert autocast_dtype("auto", cuda) is torch.bfloat16
    assert autocast_dtype("bf16", cuda) is torch.bfloat16
    assert autocast_dtype("none", cuda) is None
    assert autocast_dtype("auto", cpu) is None
    with caplog.at_level(logging.WARNING, logger="irl_inr.training.device"):
        assert autocast_dtype("bf16", cpu) is None
    assert "ignored" in caplog.text
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: True)
    assert autocast_dtype("bf16", cpu) is torch.bfloat16
    assert autocast_dtype("auto", cpu) is None  # never by default on a CPU
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    assert autocast_dtype("auto", cuda) is None
    with pytest.raises(ValueError):
        autocast_dtype("fp16", cuda)


def test_native_bf16_detection_answers_a_bool():
    assert isinstance(device_module.cpu_has_native_bf16(), bool)


def test_cpu_path_stays_plain():
    cpu = torch.device("cpu")
    assert isinstance(autocast_context(None, cpu), contextlib.nullcontext)

    def function(batch, generator):
        return batch

    assert maybe_compile(function, cpu, enabled=True) is function
    assert maybe_compile(function, torch.device("cuda"), enabled=False) is function
