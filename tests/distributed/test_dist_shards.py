"""Sharded sweeps without processes: which worker gets which case, and merging the workers'
folders back into single-GPU order (also when a worker never wrote a row)."""

import dataclasses
import json

import pandas as pd
import pytest

from fibench.distributed.shards import assign, merge_shards, shard_dir
from fibench.sweep.config import resolve_run
from fibench.sweep.results import Row, Status
from fibench.sweep.sinks import RunWriter, load_run


def test_round_robin_assignment():
    assert assign(7, 3) == [[0, 3, 6], [1, 4], [2, 5]]
    assert assign(2, 4) == [[0], [1], [], []]
    assert sorted(i for share in assign(10, 3) for i in share) == list(range(10))
    with pytest.raises(ValueError):
        assign(3, 0)


def _cfg(tmp_path, workers=2):
    cfg = resolve_run("norm", "1,2,3", device="cpu", ops="rmsnorm", axes={"hidden": 8}, out=tmp_path,
                      backends="torch,flashinfer")
    return dataclasses.replace(cfg, workers=("cpu",) * workers)


def _write_shard(cfg, rank, case_ids):
    writer = RunWriter(shard_dir(cfg.out_dir, rank))
    ceilings = {"copy_tbps": 4.0 + rank, "gemm_tflops": 800}
    writer.write_json("env.json", {"gpu_name": f"gpu-{rank}", "ceilings": ceilings})
    for case_id in case_ids:  # the worker's own order: backends reversed to prove the merge sorts
        for backend in reversed(cfg.backends):
            row = Row(suite="norm", case_id=case_id, op="rmsnorm", size=int(case_id.split("/")[1]), dtype="bf16",
                      model="llama-3-8b", backend=backend, status=Status.OK, median_us=1.0, rank=rank,
                      axes={"hidden": 8})
            writer.append(row, [{"case_id": case_id, "backend": backend, "op": "rmsnorm", "phase": "norm",
                                 "mean_us": 1.0}],
                          [{"case_id": case_id, "backend": backend, "call": 0, "index": 0, "name": "k"}])


def test_merge_restores_single_gpu_order_and_keeps_each_gpu(tmp_path):
    cfg = _cfg(tmp_path)
    ids = [c.case_id for c in cfg.cases]  # rmsnorm/1, rmsnorm/2, rmsnorm/3
    share = assign(len(ids), 2)
    _write_shard(cfg, 1, [ids[i] for i in share[1]])
    _write_shard(cfg, 0, [ids[i] for i in share[0]])
    rows = merge_shards(cfg)
    expected = [(c, b) for c in ids for b in cfg.backends]
    assert [(r.case_id, r.backend) for r in rows] == expected
    assert [r.rank for r in rows] == [0, 0, 1, 1, 0, 0]
    loaded = load_run(tmp_path)
    assert [(r.case_id, r.backend) for r in loaded.rows] == expected
    assert list(pd.read_csv(tmp_path / "results.csv")["case_id"]) == [c for c, _ in expected]
    assert list(zip(loaded.rollup["case_id"], loaded.rollup["backend"])) == expected
    assert list(pd.read_csv(tmp_path / "kernels.csv")["case_id"]) == [c for c, _ in expected]
    env = json.loads((tmp_path / "env.json").read_text())
    assert [(w["rank"], w["gpu_name"], w["ceilings"]["copy_tbps"]) for w in env["workers"]] == \
        [(0, "gpu-0", 4.0), (1, "gpu-1", 5.0)]


def test_merge_keeps_what_finished_when_a_worker_wrote_nothing(tmp_path):
    cfg = _cfg(tmp_path)
    _write_shard(cfg, 1, ["rmsnorm/2"])
    rows = merge_shards(cfg)
    assert [(r.case_id, r.rank) for r in rows] == [("rmsnorm/2", 1), ("rmsnorm/2", 1)]
    assert len(load_run(tmp_path).rows) == 2
