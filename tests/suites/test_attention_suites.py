"""The attention suites on the CPU: options reaching the CLI, bad input, shared inputs,
backend agreement, unsupported cases, out-of-memory, kernel maps."""

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from fibench.cli import app
from fibench.suites import get_suite
from fibench.suites.attention.inputs import TAIL_SCALE, require_memory
from fibench.suites.attention.paging import build_page_table
from fibench.suites.attention.inputs import host_generator, PAGE_SEED_OFFSET
from fibench.sweep.config import build_cases
from fibench.sweep.runner import call_once
from fibench.trace.kernel_map import load_map

runner = CliRunner()


def _case(suite: str, size: int, model: str = "small", **axes):
    cases, _ = build_cases(get_suite(suite), [size], "bf16", 0, list(get_suite(suite).ops), model, axes)
    return cases[0]


def _run(suite: str, case, backend: str):
    inputs = get_suite(suite).make_inputs(case, torch.device("cpu"))
    return inputs, call_once(get_suite(suite).backends[backend]().prepare(case, inputs), torch.device("cpu"))


@pytest.mark.parametrize("suite, options", [
    ("decode", ["--kv-len", "--page-size", "--kv-dist", "--kv-layout", "--q-heads", "--kv-heads", "--head-dim",
                "--window", "--sinks", "--no-sinks"]),
    ("prefill", ["--batch", "--causal", "--no-causal", "--page-size", "--kv-dist", "--window"]),
    ("mla", ["--kv-len", "--page-size", "--kv-lora-rank", "--qk-rope-head-dim", "--qk-nope-head-dim", "--q-heads"]),
])
def test_suite_options_reach_the_cli(suite, options):
    result = runner.invoke(app, ["run", suite, "--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in options:
        assert option in result.output


@pytest.mark.parametrize("args, message", [
    (["run", "decode", "--sizes", "1", "--kv-dist", "zipf"], "--kv-dist: unknown value 'zipf'; known: uniform, random"),
    (["run", "decode", "--sizes", "1", "--kv-len", "0"], "--kv-len must be >= 1, got 0"),
    (["run", "decode", "--sizes", "1", "--kv-len", "-5"], "--kv-len must be >= 1, got -5"),
    (["run", "decode", "--sizes", "1", "--page-size", "0"], "--page-size must be >= 1"),
    (["run", "decode", "--sizes", "1", "--kv-layout", "HDN"], "--kv-layout: unknown value 'HDN'"),
    (["run", "decode", "--sizes", "1", "--model", "llama-3-8b", "--q-heads", "30"],
     "--q-heads 30 is not a multiple of --kv-heads 8"),
    (["run", "decode", "--sizes", "1", "--model", "deepseek-v3"], "uses multi-head latent attention; run `fibench run mla`"),
    (["run", "prefill", "--sizes", "64", "--model", "mixtral-8x7b"], "--q-heads is required"),
    (["run", "mla", "--sizes", "1", "--model", "llama-3-8b"], "has no MLA dimensions"),
    (["run", "prefill", "--sizes", "64", "--batch", "0"], "--batch must be >= 1"),
    (["run", "decode", "--sizes", "1", "--window", "-1"], "--window must be >= 0"),
])
def test_bad_attention_input_is_one_line_and_exit_2(args, message):
    result = runner.invoke(app, args + ["--device", "cpu"])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_decode_cli_run_on_cpu(tmp_path):
    """A CPU sweep writes every axis as a column, runs the CPU backends with parity, and
    turns every GPU backend into an unsupported row with its reason."""
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", "decode", "--sizes", "3", "--kv-len", "9", "--kv-dist", "random",
                                 "--iters", "2", "--warmup", "1", "--device", "cpu", "--out", str(out)])
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out / "results.csv")
    for column in ("kv_len", "page_size", "kv_dist", "kv_layout", "q_heads", "kv_heads", "head_dim", "window",
                   "sinks", "plan_us"):
        assert column in df.columns
    rows = df.set_index("backend")
    assert rows.loc["torch-sdpa", "parity_verdict"] == "pass"
    assert rows.loc["torch", "parity_verdict"] == "reference"
    for gpu_backend in ("flashinfer-fa2", "flashinfer-fa2-tc", "flashinfer-fa3", "trtllm-xqa", "cudnn"):
        assert rows.loc[gpu_backend, "status"] == "unsupported" and rows.loc[gpu_backend, "reason"]
    assert "--kv-dist random" in rows.loc["torch", "command"]


def test_inputs_are_shared_and_follow_the_seed():
    case = _case("decode", 4, kv_len="12", kv_dist="random", page_size="4")
    a = get_suite("decode").make_inputs(case, torch.device("cpu"))
    b = get_suite("decode").make_inputs(case, torch.device("cpu"))
    assert a.info["kv_lens"] == b.info["kv_lens"] and sum(a.info["kv_lens"]) == 48
    assert all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)
    assert a.tensors["k_cache"].shape == (a.info["pages"], 2, 4, 64)  # HND: [page, kv head, token, dim]
    assert a.work.flop == 4 * 4 * 64 * 48


def test_lengths_do_not_depend_on_page_size():
    lens = [get_suite("decode").make_inputs(_case("decode", 5, kv_len="20", kv_dist="random", page_size=p),
                                            torch.device("cpu")).info["kv_lens"] for p in ("1", "16")]
    assert lens[0] == lens[1]


@pytest.mark.parametrize("suite, size, axes", [
    ("decode", 3, dict(kv_len="19", kv_dist="random", page_size="4")),
    ("decode", 2, dict(kv_len="30", page_size="8", kv_layout="NHD", window="5")),
    ("prefill", 11, dict(batch="3", kv_dist="random", page_size="4")),
    ("prefill", 9, dict(batch="2", page_size="16", kv_layout="NHD", window="3")),
    ("prefill", 7, dict(batch="2", causal=False)),
])
def test_torch_sdpa_matches_the_reference(suite, size, axes):
    case = _case(suite, size, **axes)
    inputs, ref = _run(suite, case, "torch")
    out = call_once(get_suite(suite).backends["torch-sdpa"]().prepare(case, inputs), torch.device("cpu"))
    assert set(out) == {"out"} and set(ref) == {"out", "lse"}
    parity = get_suite(suite).check_parity(case, out, ref)
    assert parity.verdict == "pass", parity


def test_reference_never_reads_past_a_request_end():
    """Slots past each request's length hold TAIL_SCALE noise; replacing it changes nothing."""
    case = _case("decode", 3, kv_len="10", kv_dist="random", page_size="8")
    suite = get_suite("decode")
    inputs = suite.make_inputs(case, torch.device("cpu"))
    launch = suite.backends["torch"]().prepare(case, inputs)
    before = call_once(launch, torch.device("cpu"))
    tail = build_page_table(inputs.info["kv_lens"], 8, host_generator(case, PAGE_SEED_OFFSET)).tail_mask()
    assert tail.any()
    hnd_tail = tail[:, None, :, None].expand_as(inputs.tensors["k_cache"])
    live = inputs.tensors["k_cache"][~hnd_tail].float().abs().max()
    assert inputs.tensors["k_cache"][hnd_tail].float().abs().max() > live  # the noise really is larger
    for name in ("k_cache", "v_cache"):
        inputs.tensors[name][hnd_tail] = 1e4
    after = call_once(launch, torch.device("cpu"))
    assert torch.equal(before["out"], after["out"]) and torch.equal(before["lse"], after["lse"])
    assert TAIL_SCALE > 1


def test_sinks_change_the_output_and_the_lse():
    plain = _run("decode", _case("decode", 2, kv_len="9"), "torch")[1]
    sunk = _run("decode", _case("decode", 2, kv_len="9", sinks=True), "torch")[1]
    assert not torch.equal(plain["out"], sunk["out"])
    assert bool((sunk["lse"] > plain["lse"]).all())  # exp(sink) only adds to the denominator


@pytest.mark.parametrize("page_size", ["1", "8"])
def test_mla_reference_does_not_depend_on_where_pages_live(page_size):
    """Move every physical page elsewhere and relabel the page table: same output, bit for bit."""
    case = _case("mla", 3, kv_len="13", kv_dist="random", page_size=page_size)
    suite = get_suite("mla")
    inputs = suite.make_inputs(case, torch.device("cpu"))
    launch = suite.backends["torch"]().prepare(case, inputs)
    before = call_once(launch, torch.device("cpu"))
    assert before["out"].shape == (3, 4, 64) and before["lse"].shape == (3, 4)
    perm = torch.randperm(inputs.info["pages"], generator=torch.Generator().manual_seed(1))
    for name in ("ckv_cache", "kpe_cache"):
        moved = torch.empty_like(inputs.tensors[name])
        moved[perm] = inputs.tensors[name]
        inputs.tensors[name].copy_(moved)
    inputs.tensors["kv_indices"].copy_(perm[inputs.tensors["kv_indices"].long()].to(torch.int32))
    after = call_once(launch, torch.device("cpu"))
    assert torch.equal(before["out"], after["out"]) and torch.equal(before["lse"], after["lse"])


@pytest.mark.parametrize("suite, backend, axes, reason", [
    ("decode", "trtllm-xqa", dict(page_size="1"), "page size 1: XQA supports 16/32/64/128"),
    ("decode", "trtllm-xqa", dict(head_dim="96"), "head dim 96"),
    ("decode", "flashinfer-fa2", dict(sinks=True), "CUDA-core decode kernel has no sink variant"),
    ("decode", "flashinfer-fa2", dict(q_heads="32", kv_heads="2"), "GQA group 16"),
    ("decode", "cudnn", dict(kv_layout="NHD"), "HND pages only"),
    ("decode", "cudnn", dict(window="128"), "no window parameter"),
    ("decode", "torch-sdpa", dict(sinks=True), "no sink term"),
    ("prefill", "cudnn", dict(head_dim="64"), "head dim 64"),
    ("prefill", "flashinfer-fa3", dict(head_dim="96"), "head dim 96: FA3 kernels are built for 64/128/256"),
])
def test_unsupported_cases_say_why(suite, backend, axes, reason):
    case = _case(suite, 2, **axes)
    assert reason in (get_suite(suite).backends[backend]().unsupported_reason(case) or "")


def test_fa3_is_unsupported_off_sm90(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (10, 0))
    case = _case("decode", 2)
    assert "SM9x only" in get_suite("decode").backends["flashinfer-fa3"]().unsupported_reason(case)
    assert get_suite("decode").backends["trtllm-xqa"]().unsupported_reason(_case("decode", 2, page_size="16")) is None


def test_cache_that_does_not_fit_is_refused_before_allocating(monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (1 << 20, 1 << 30))
    with pytest.raises(torch.cuda.OutOfMemoryError, match=r"KV cache of \d+ pages plus q/o needs .* GiB; 0.0 GiB free"):
        get_suite("decode").make_inputs(_case("decode", 64, kv_len="4096"), torch.device("cuda"))
    require_memory(1 << 40, torch.device("cpu"), "anything")  # no check on the CPU


def test_lse_tolerance_applies_to_lse_only():
    suite = get_suite("decode")
    ref = {"out": torch.ones(2, 3, dtype=torch.bfloat16), "lse": torch.full((2,), 1.0)}
    cand = {"out": ref["out"].clone(), "lse": ref["lse"] + 5e-3}  # beyond 1e-3 + 1e-3 * 1
    assert suite.check_parity(None, cand, ref).verdict == "fail"
    cand["lse"] = ref["lse"] + 5e-4
    assert suite.check_parity(None, cand, ref).verdict == "pass"
    assert suite.check_parity(None, {"out": ref["out"]}, ref).verdict == "pass"  # no LSE from the backend
    with pytest.raises(ValueError, match="no reference counterpart"):
        suite.check_parity(None, {"out": ref["out"], "extra": ref["lse"]}, ref)


@pytest.mark.parametrize("suite", ["decode", "prefill", "mla"])
def test_every_backend_has_a_kernel_map_entry(suite):
    kmap = load_map(suite)
    assert set(get_suite(suite).backends) == set(kmap.backends)


@pytest.mark.parametrize("suite, backend, name, op", [
    ("decode", "flashinfer-fa2", "void flashinfer::BatchDecodeWithPagedKVCacheKernel<(flashinfer::PosEncodingMode)0, "
                                 "2u, 4u, 8u, 16u, 1u, 8u>(flashinfer::BatchDecodeParams<__nv_bfloat16>)", "attention"),
    ("decode", "flashinfer-fa2", "void flashinfer::PersistentVariableLengthMergeStatesKernel<8u, 16u, 8u, 4u, "
                                 "__nv_bfloat16, __nv_bfloat16, int>(__nv_bfloat16*, float*)", "merge"),
    ("decode", "flashinfer-fa2-tc", "_ZN10flashinfer34BatchPrefillWithPagedKVCacheKernelINS_12KernelTraits", "attention"),
    ("decode", "flashinfer-fa3", "void flashinfer::PrefillWithKVCacheKernel<flashinfer::CollectiveMainloop<>>", "attention"),
    ("decode", "trtllm-xqa", "kernel_mha", "attention"),
    ("decode", "trtllm-xqa", "_ZL10kernel_mhajfPKfP10VecPadded", "attention"),
    ("decode", "cudnn", "cudnn_generated_fort_native_sdpa_sm90_flash_fprop_wgmma_f16_knob_7_64x128x128", "attention"),
    ("decode", "cudnn", "void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<int>>", "seq_lens_fill"),
    ("prefill", "flashinfer-fa2", "void flashinfer::BatchPrefillWithPagedKVCacheKernel<KTraits, Params>(Params)", "attention"),
    ("prefill", "flashinfer-fa2", "void flashinfer::PersistentVariableLengthMergeStatesKernel<8u>", "merge"),
    ("mla", "flashinfer-fa2", "void flashinfer::mla::BatchMLAPagedAttentionKernel<KTraits, Params>(Params)", "attention"),
    ("mla", "flashinfer-fa3", "void flashinfer::mla::hopper::BatchMLAPageAttentionHopperKernel<KTraits>", "attention"),
])
def test_kernel_names_from_the_sources_map_to_their_op(suite, backend, name, op):
    rule = load_map(suite).classify(backend, [name])[0]
    assert rule is not None and rule.op == op


def test_presets_carry_the_published_attention_shapes():
    from fibench.presets import get_preset

    ds, qwen, oss = get_preset("deepseek-v3"), get_preset("qwen3-30b-a3b"), get_preset("gpt-oss-120b")
    assert (ds.q_heads, ds.kv_lora_rank, ds.qk_rope_head_dim, ds.qk_nope_head_dim, ds.is_mla) == (128, 512, 64, 128, True)
    assert (qwen.q_heads, qwen.kv_heads, qwen.head_dim) == (32, 4, 128)
    assert (oss.q_heads, oss.kv_heads, oss.head_dim, oss.sliding_window, oss.attn_sinks) == (64, 8, 64, 128, True)
    assert (get_preset("llama-3-70b").q_heads, get_preset("llama-3-70b").kv_heads) == (64, 8)
    # gpt-oss turns sinks on by default; the window stays a choice (only every other layer has one)
    case = _case("decode", 1, model="gpt-oss-120b")
    assert case.params["sinks"] is True and case.params["window"] == 0
