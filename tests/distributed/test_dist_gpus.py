"""--gpus: parsing, the one-model rule, the command-line errors, and the environment every
rank gets (NVLink multicast off)."""

import pytest
import torch
from typer.testing import CliRunner

from fibench.cli import app
from fibench.distributed.env import COMM_ENV, apply_comm_env
from fibench.distributed.gpus import check_one_model, gpus_argument, parse_gpus
from fibench.errors import UsageError
from fibench.sweep.config import resolve_run


@pytest.mark.parametrize("text, available, expected", [
    ("2", 4, (0, 1)),
    ("all", 3, (0, 1, 2)),
    (" ALL ", 2, (0, 1)),
    ("1,3", 4, (1, 3)),
    ("3,0", 4, (3, 0)),
    ("1", 1, (0,)),
])
def test_parse_gpus(text, available, expected):
    assert parse_gpus(text, available) == expected


@pytest.mark.parametrize("text, available, message", [
    ("2", 0, "needs CUDA GPUs; none is visible"),
    ("0", 2, "give 1 to 2 GPUs"),
    ("3", 2, "give 1 to 2 GPUs"),
    ("1,1", 4, "lists a GPU twice"),
    ("0,4", 4, "no GPU 4"),
    ("0,,1", 4, "give a count"),
    ("gpu0", 4, "give a count"),
    ("", 4, "give a count"),
])
def test_parse_gpus_errors(text, available, message):
    with pytest.raises(UsageError, match=message):
        parse_gpus(text, available)


def test_one_model_rule():
    assert check_one_model({0: "NVIDIA H200", 1: "NVIDIA H200"}, allow_mixed=False) == \
        "2 GPUs of one model (NVIDIA H200): 0, 1"
    mixed = {0: "NVIDIA H200", 1: "NVIDIA H100 80GB HBM3"}
    with pytest.raises(UsageError, match=r"mixes GPU models \(0: NVIDIA H200; 1: NVIDIA H100 80GB HBM3\)"):
        check_one_model(mixed, allow_mixed=False)
    assert "2 GPUs of 2 models, allowed by --allow-mixed-gpus" in check_one_model(mixed, allow_mixed=True)


@pytest.mark.parametrize("devices, text", [
    (("cuda:0", "cuda:1"), "2"),
    (("cuda:1", "cuda:3"), "1,3"),
    (("cuda:0",), "1"),
    (("cuda:2",), None),
    (("cpu", "cpu"), None),
])
def test_gpus_argument_is_the_inverse_of_parse(devices, text):
    assert gpus_argument(devices) == text
    if text:
        assert parse_gpus(text, 4) == tuple(int(d.split(":")[1]) for d in devices)


def test_comm_env_overrides_and_says_so():
    env = {"NCCL_NVLS_ENABLE": "1", "PATH": "/bin"}
    notes = apply_comm_env(env)
    assert env["NCCL_NVLS_ENABLE"] == "0" and env["TORCH_SYMM_MEM_DISABLE_MULTICAST"] == "1"
    assert env["NVSHMEM_DISABLE_NVLS"] == "1" and env["TORCH_SYMMMEM"] == "CUDA" and env["PATH"] == "/bin"
    assert notes == ["NCCL_NVLS_ENABLE was 1, set to 0"]
    assert apply_comm_env(env) == [] and set(COMM_ENV) <= set(env)


def fake_gpus(monkeypatch, names):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: len(names))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: names[i])


def test_mixed_models_are_refused_at_the_command_line(monkeypatch):
    fake_gpus(monkeypatch, ["NVIDIA H200", "NVIDIA H100 80GB HBM3"])
    result = CliRunner().invoke(app, ["run", "norm", "--sizes", "1", "--gpus", "all"])
    assert result.exit_code == 2, result.output
    assert "error: --gpus mixes GPU models" in result.output and "Traceback" not in result.output


def test_allow_mixed_gpus_resolves_one_worker_per_gpu(monkeypatch):
    fake_gpus(monkeypatch, ["NVIDIA H200", "NVIDIA H100 80GB HBM3", "NVIDIA H200"])
    cfg = resolve_run("norm", "1", gpus="0,1", allow_mixed_gpus=True)
    assert cfg.workers == ("cuda:0", "cuda:1") and cfg.device == torch.device("cuda:0")
    assert "allowed by --allow-mixed-gpus" in cfg.gpu_note
    assert "gpus" not in cfg.options and cfg.options["sizes"] == "1"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error path")
@pytest.mark.parametrize("args, message", [
    (["run", "norm", "--sizes", "1", "--gpus", "2"], "--gpus needs CUDA GPUs"),
    (["run", "norm", "--sizes", "1", "--gpus", "2", "--device", "cpu"], "--gpus and --device are exclusive"),
    (["run", "allreduce", "--sizes", "1"], "allreduce is a collective suite: pass --gpus N"),
])
def test_gpus_errors_are_one_line_and_exit_2(args, message):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
