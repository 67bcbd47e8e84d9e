"""The command line at its boundary: exit codes, one-line errors, files written."""

import json

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from fibench.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args))


@pytest.mark.parametrize("args, message", [
    (["run", "nosuch", "--sizes", "1"], "unknown suite 'nosuch'"),
    (["run", "moe", "--sizes", "1,x"], "'x' is not a positive integer"),
    (["run", "moe", "--sizes", "0"], "not positive"),
    (["run", "moe", "--sizes", "-3"], "not a positive integer"),
    (["run", "moe", "--sizes", "4,4"], "given twice"),
    (["run", "moe", "--sizes", ""], "--sizes is empty"),
    (["run", "moe", "--sizes", "1", "--backends", "torch,nope"], "unknown backend 'nope'"),
    (["run", "moe", "--sizes", "1", "--model", "gpt-5"], "unknown model preset 'gpt-5'"),
    (["run", "moe", "--sizes", "1", "--model", "llama-3-8b"], "dense model"),
    (["run", "norm", "--sizes", "1", "--experts", "8"], "No such option: --experts"),
    (["run", "moe", "--sizes", "1", "--model", "small", "--ep", "3"], "--ep 3 does not divide 8 experts"),
    (["run", "moe", "--sizes", "1", "--model", "small", "--top-k", "9"], "exceeds --experts"),
    (["run", "moe", "--sizes", "1", "--dtype", "fp64"], "--dtype must be one of"),
    (["run", "moe", "--sizes", "1", "--cold-l2", "tepid"], "--cold-l2 must be one of"),
    (["run", "moe", "--sizes", "1", "--jit", "maybe"], "--jit must be one of"),
    (["run", "moe", "--sizes", "1", "--iters", "0"], "--iters must be >= 1"),
    (["run", "moe", "--sizes", "1", "--op", "attention"], "unknown op 'attention'"),
    (["run", "moe", "--sizes", "1", "--device", "tpu"], "--device must be cuda"),
    (["run", "moe", "--sizes", "1", "--backends", "torch", "--baseline", "torch-grouped"], "not among the backends"),
    (["report", "/nonexistent/run"], "is not a directory"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len([l for l in result.output.splitlines() if l.startswith("error:")]) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error path")
@pytest.mark.parametrize("args, message", [
    (["run", "moe", "--sizes", "1", "--device", "cuda"], "no CUDA GPU is available"),
    (["run", "moe", "--sizes", "1", "--per-kernel"], "--per-kernel needs a CUDA GPU"),
    (["run", "moe", "--sizes", "1", "--nsys"], "--nsys needs a CUDA GPU"),
])
def test_gpu_only_options_without_gpu(args, message):
    result = invoke(*args)
    assert result.exit_code == 2 and message in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU path is what CI exercises")
def test_run_moe_small_on_cpu_writes_everything(tmp_path):
    out = tmp_path / "run"
    result = invoke("run", "moe", "--model", "small", "--sizes", "1,8", "--iters", "3", "--warmup", "1",
                    "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "CPU" in result.output
    for name in ("results.csv", "results.jsonl", "env.json", "run.json", "report.md"):
        assert (out / name).exists(), name
    df = pd.read_csv(out / "results.csv")
    assert len(df) == 2 * 4  # 2 sizes x 4 backends
    assert set(df["backend"]) == {"torch", "torch-grouped", "flashinfer-cutlass", "trtllm-moe"}
    fi = df[df.backend.isin(["flashinfer-cutlass", "trtllm-moe"])]
    assert (fi.status == "unsupported").all() and fi.reason.str.contains("CUDA").all()
    grouped = df[df.backend == "torch-grouped"]
    assert (grouped.status == "ok").all() and (grouped.parity_verdict == "pass").all()
    assert (grouped.timer == "cpu-wall-clock").all() and (grouped.samples == 3).all()
    assert not grouped.l2_cold.any()  # a CPU row never claims cold L2
    assert (df[df.backend == "torch"].parity_verdict == "reference").all()
    report = (out / "report.md").read_text()
    assert "These are CPU numbers" in report and "## Parity against the reference" in report
    assert "flashinfer-cutlass | unsupported | needs a CUDA GPU" in report
    # a repro command is recorded per row and parses back through the CLI parser
    assert df.command.str.startswith("fibench run moe --model small").all()


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU path is what CI exercises")
def test_main_job_without_gpu_uses_the_small_preset_and_says_so(tmp_path):
    result = invoke("run", "moe", "--sizes", "1", "--iters", "2", "--warmup", "1", "--out", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    assert "no CUDA GPU: using the 'small' preset" in result.output
    assert "using the 'small' preset" in (tmp_path / "r" / "report.md").read_text()
    assert json.loads((tmp_path / "r" / "run.json").read_text())["shape"]["model"] == "small"


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU path is what CI exercises")
def test_report_rerenders_an_interrupted_run(tmp_path):
    out = tmp_path / "run"
    assert invoke("run", "norm", "--sizes", "2", "--hidden", "64", "--iters", "2", "--out", str(out)).exit_code == 0
    (out / "report.md").unlink()
    with open(out / "results.jsonl", "a") as fh:
        fh.write('{"suite": "norm", "case_id": "rmsno')  # a row cut by an interrupt
    result = invoke("report", str(out))
    assert result.exit_code == 0, result.output
    text = (out / "report.md").read_text()
    assert "rmsnorm" in text and "fused_add_rmsnorm" in text


def test_list_and_env_json():
    listing = json.loads(invoke("list", "--json").output)
    assert {"norm", "moe", "decode", "prefill", "mla", "activation", "rope", "gemm", "sampling",
            "allreduce"} <= set(listing["suites"])
    assert "flashinfer-cutlass" in listing["suites"]["moe"]["backends"]
    assert "JIT fused_moe_90" in listing["suites"]["moe"]["backends"]["flashinfer-cutlass"]["needs"]
    assert "small" in listing["presets"]
    env = json.loads(invoke("env", "--json").output)
    assert env["torch_version"] == torch.__version__
    assert env["cuda_available"] == torch.cuda.is_available()


def test_report_reroll_applies_current_maps_without_touching_timings(tmp_path):
    from fibench.sweep.results import Row, Status
    from fibench.sweep.sinks import RunWriter, load_run

    w = RunWriter(tmp_path)
    w.write_json("run.json", {"suite": "moe", "reference": "torch", "baseline": "torch"})
    row = Row(suite="moe", case_id="moe/1", op="moe", size=1, dtype="bf16", model="m", backend="flashinfer-cutlass",
              status=Status.OK, median_us=40.0, parity_verdict="pass", rollup_note="old map was ambiguous")
    names = ["void tensorrt_llm::kernels::cutlass_kernels::expandInputRowsKernel<x>",
             "void fused_moe::run_global<fused_moe::Fused_Moe_Kernel_sm80<y>>", "Memset (Device)",
             "_ZN7cutlass13device_kernelIN_gemm2"]
    kernels = [dict(case_id="moe/1", backend="flashinfer-cutlass", call=0, index=i, name=n, op="", phase="",
                    op_range="", stream=7, start_us=10.0 * i, dur_us=d) for i, (n, d) in enumerate(zip(names, [2, 20, 1, 15]))]
    w.append(row, [], kernels)
    result = invoke("report", str(tmp_path), "--reroll")
    assert result.exit_code == 0 and "re-rolled 1 rows" in result.output
    (back,) = load_run(tmp_path).rows
    assert back.median_us == 40.0 and back.parity_verdict == "pass"  # measurements untouched
    assert back.extra["phases_us"] == {"permute": 2.0, "gemm1": 20.0, "gemm2": 15.0, "memset": 1.0}
    assert back.kernel_sum_us == 38.0 and "re-rolled" in back.rollup_note


def test_report_reroll_reads_a_gzipped_trace(tmp_path):
    import gzip
    import shutil

    from fibench.sweep.results import Row, Status
    from fibench.sweep.sinks import RunWriter, load_run

    w = RunWriter(tmp_path)
    w.write_json("run.json", {"suite": "norm", "reference": "torch", "baseline": "torch"})
    row = Row(suite="norm", case_id="rmsnorm/1", op="rmsnorm", size=1, dtype="bf16", model="m", backend="flashinfer",
              status=Status.OK, median_us=3.0, parity_verdict="pass")
    w.append(row, [], [dict(case_id="rmsnorm/1", backend="flashinfer", call=0, index=0,
                            name="void flashinfer::norm::RMSNormKernel<8u, float>(...)", op="", phase="", op_range="",
                            stream=7, start_us=0.0, dur_us=2.5)])
    with open(tmp_path / "kernels.csv", "rb") as src, gzip.open(tmp_path / "kernels.csv.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)  # audits keep large traces gzipped
    (tmp_path / "kernels.csv").unlink()
    result = invoke("report", str(tmp_path), "--reroll")
    assert result.exit_code == 0 and "re-rolled 1 rows" in result.output
    assert load_run(tmp_path).rows[0].extra["phases_us"] == {"norm": 2.5}


def test_list_says_which_backends_ran_on_hardware():
    listing = json.loads(invoke("list", "--json").output)["suites"]
    assert "2026-11-30: passed (audits/h200-2026-11-30)" in listing["decode"]["backends"]["trtllm-xqa"]["verified"]
    assert "2026-11-30: passed (audits/h200-2026-11-30-c)" in listing["norm"]["backends"]["flashinfer"]["verified"]
    assert "2026-11-30: passed (audits/h200-2026-11-30-b)" in listing["moe"]["backends"]["flashinfer-cutlass"]["verified"]
    assert "fp32 reference" in listing["allreduce"]["backends"]["nccl+rmsnorm"]["verified"]
    assert "2x H200" in listing["allreduce"]["backends"]["nccl"]["verified"]
    assert "within 1 ULP of nccl+rmsnorm" in listing["allreduce"]["backends"]["flashinfer-trtllm-ar"]["verified"]
    assert "fast accumulation" in listing["gemm"]["backends"]["flashinfer-bmm-fp8"]["verified"]
    assert "log-sum-exp fails parity" in listing["prefill"]["backends"]["flashinfer-fa2"]["verified"]
    assert listing["moe"]["backends"]["trtllm-moe"]["verified"] == ""  # TensorRT-LLM never ran here


def test_every_verified_audit_folder_exists():
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    audits = tomllib.loads((root / "fibench" / "suites" / "verified.toml").read_text())["audit"]
    assert audits and all((root / a["folder"]).is_dir() for a in audits), [a["folder"] for a in audits]


def test_audit_commands_start_without_torch():
    """``run`` (every suite, and torch) is built only when asked for: ``fibench audit ...``
    took 5 s to start when the root group imported it."""
    import subprocess
    import sys

    code = ("import sys; from typer.testing import CliRunner; from fibench.cli import app; "
            "r = CliRunner().invoke(app, ['audit', '--help']); "
            "print(r.exit_code, 'torch' in sys.modules, 'fibench.cli.run' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0", "False", "False"]
    assert "run" in invoke("--help").output  # still listed
