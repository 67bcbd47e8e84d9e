"""Saved tensors: each case's inputs and each backend's outputs as safetensors files, with a
manifest that makes them checkable on another machine.

Layout of a store (``fibench run ... --save-tensors DIR``)::

    DIR/manifest.json                      format, suite, run, env, cases (below)
    DIR/inputs/<case>.safetensors          the case's inputs (every tensor, weights included)
    DIR/outputs/<case>/<backend>.safetensors   one backend's outputs (first eager call)

``<case>`` is the case id with ``/`` written as ``__``. The manifest records, per case, its
op, size, dtype, seed, parameters (every axis value) and swept axes, and for every tensor
its dtype, shape and the SHA-256 of its bytes (:func:`tensor_sha256`); at the top, the suite,
the run's command and options, and the machine: fibench, torch, FlashInfer (and
TensorRT-LLM when installed) versions, GPU, compute capability, driver. The manifest is
rewritten (atomically) after every file, so an interrupted run leaves a valid store.

Reading a store back (:func:`read_manifest`, :func:`load_tensors`) checks everything: a
missing or unreadable manifest, a missing file or tensor, another dtype or shape, or bytes
whose SHA-256 differs from the manifest's are one-line :class:`~fibench.errors.UsageError`
(exit 2).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from fibench.env import package_version
from fibench.errors import UsageError
from fibench.suites.base import Case

FORMAT = "fibench-tensors/1"
MANIFEST = "manifest.json"
ENV_FIELDS = ("fibench_version", "torch_version", "torch_cuda_runtime", "flashinfer_version", "gpu_name",
              "compute_capability", "driver_version", "driver_cuda_version", "python_version")
"""Fields of :class:`fibench.env.EnvSnapshot` a manifest keeps."""


def tensor_sha256(t: torch.Tensor) -> str:
    """SHA-256 (hex) of a tensor's bytes in row-major order (dtype and shape are recorded
    beside it, so equal hashes of different dtypes are never confused)."""
    flat = t.detach().contiguous().reshape(-1).cpu()
    return hashlib.sha256(flat.view(torch.uint8).numpy()).hexdigest()  # the array's buffer: no bytes copy


def _dtype_name(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def tensor_entry(t: torch.Tensor) -> dict[str, Any]:
    """Manifest entry of one tensor: dtype name, shape, sha256."""
    return {"dtype": _dtype_name(t), "shape": list(t.shape), "sha256": tensor_sha256(t)}


def case_key(case_id: str) -> str:
    """File-name form of a case id (``moe/16/top_k=4`` -> ``moe__16__top_k=4``)."""
    return case_id.replace("/", "__")


@dataclass
class SavedOutput:
    """One backend's saved outputs on one case.

    Attributes:
        file: path relative to the store; tensors: name -> entry (dtype, shape, sha256);
        facts: what the run measured about them (``deterministic``: two eager calls
        agreed bitwise; ``graph_deterministic``: a CUDA-graph replay agreed with an eager
        call; ``status`` of the row).
    """

    file: str
    tensors: dict[str, dict[str, Any]]
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class SavedCase:
    """One case of a store, as recorded in its manifest.

    Attributes:
        inputs: tensor name -> entry (dtype, shape, sha256); inputs_file: path relative to
        the store; outputs: backend -> :class:`SavedOutput`.
    """

    case_id: str
    op: str
    size: int
    dtype: str
    seed: int
    params: dict[str, Any]
    swept: list[str]
    inputs_file: str = ""
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, SavedOutput] = field(default_factory=dict)

    def to_case(self, suite: str) -> Case:
        """The :class:`~fibench.suites.base.Case` this entry was saved from."""
        return Case(suite, self.op, self.size, self.dtype, dict(self.params), self.seed, tuple(self.swept))

    def to_json(self) -> dict[str, Any]:
        """The manifest's JSON form."""
        return {"op": self.op, "size": self.size, "dtype": self.dtype, "seed": self.seed, "params": self.params,
                "swept": self.swept, "inputs": {"file": self.inputs_file, "tensors": self.inputs},
                "outputs": {b: {"file": o.file, "tensors": o.tensors, "facts": o.facts} for b, o in self.outputs.items()}}

    @classmethod
    def from_json(cls, case_id: str, d: Mapping[str, Any]) -> "SavedCase":
        """Inverse of :meth:`to_json`.

        Raises:
            KeyError, TypeError: a malformed entry (the caller turns it into a UsageError).
        """
        return cls(case_id, d["op"], int(d["size"]), d["dtype"], int(d["seed"]), dict(d["params"]), list(d["swept"]),
                   d["inputs"]["file"], dict(d["inputs"]["tensors"]),
                   {b: SavedOutput(o["file"], dict(o["tensors"]), dict(o.get("facts") or {}))
                    for b, o in d.get("outputs", {}).items()})


@dataclass
class Manifest:
    """A store's manifest: where it is, which suite, the run and machine, the cases."""

    root: Path
    suite: str
    run: dict[str, Any]
    env: dict[str, Any]
    cases: dict[str, SavedCase]

    def to_json(self) -> dict[str, Any]:
        """The JSON document written to ``manifest.json``."""
        return {"format": FORMAT, "suite": self.suite, "run": self.run, "env": self.env,
                "cases": {k: c.to_json() for k, c in self.cases.items()}}


def _plain(value: Any) -> Any:
    """JSON round trip (tuples become lists), so parameters compare like the manifest's."""
    return json.loads(json.dumps(value, default=str))


class TensorStore:
    """Writes a store as a run goes (``--save-tensors DIR``).

    Args:
        root: the store folder (created; must not already hold a manifest).
        suite: suite name; run: the run's command and options; env: an
            :class:`~fibench.env.EnvSnapshot` as a dict (only :data:`ENV_FIELDS` are kept).

    Raises:
        UsageError: ``root`` already holds a store.
    """

    def __init__(self, root: Path, *, suite: str, run: Mapping[str, Any], env: Mapping[str, Any]) -> None:
        root = Path(root)
        check_new_store(root)
        root.mkdir(parents=True, exist_ok=True)
        kept = {k: env.get(k) for k in ENV_FIELDS}
        kept["tensorrt_llm_version"] = package_version("tensorrt_llm") or package_version("tensorrt-llm")
        self.manifest = Manifest(root, suite, _plain(dict(run)), kept, {})
        self._write_manifest()

    def _case(self, case: Case) -> SavedCase:
        if case.case_id not in self.manifest.cases:
            self.manifest.cases[case.case_id] = SavedCase(case.case_id, case.op, case.size, case.dtype, case.seed,
                                                          _plain(case.params), list(case.swept))
        return self.manifest.cases[case.case_id]

    def _save(self, rel: str, tensors: Mapping[str, torch.Tensor]) -> dict[str, dict[str, Any]]:
        cpu = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
        path = self.manifest.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(cpu, str(path), metadata={"format": FORMAT})
        return {k: tensor_entry(v) for k, v in cpu.items()}

    def save_inputs(self, case: Case, tensors: Mapping[str, torch.Tensor]) -> None:
        """Save the inputs of ``case`` (every tensor of :class:`~fibench.suites.base.Inputs`)."""
        entry = self._case(case)
        entry.inputs_file = f"inputs/{case_key(case.case_id)}.safetensors"
        entry.inputs = self._save(entry.inputs_file, tensors)
        self._write_manifest()

    def save_outputs(self, case: Case, backend: str, outputs: Mapping[str, torch.Tensor]) -> None:
        """Save one backend's outputs on ``case``."""
        entry = self._case(case)
        rel = f"outputs/{case_key(case.case_id)}/{backend}.safetensors"
        entry.outputs[backend] = SavedOutput(rel, self._save(rel, outputs))
        self._write_manifest()

    def annotate(self, case: Case, backend: str, **facts: Any) -> None:
        """Record what the run measured about saved outputs (e.g. ``deterministic=False``);
        nothing happens when the backend saved none on ``case``."""
        saved = self.manifest.cases.get(case.case_id)
        if saved is not None and backend in saved.outputs:
            saved.outputs[backend].facts.update(_plain(facts))
            self._write_manifest()

    def _write_manifest(self) -> None:
        path = self.manifest.root / MANIFEST
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.manifest.to_json(), indent=1, default=str) + "\n")
        os.replace(tmp, path)


def check_new_store(root: Path) -> None:
    """Refuse to write a store where one already is.

    Raises:
        UsageError: ``root`` holds a manifest.json, or is a file.
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise UsageError(f"--save-tensors {root}: exists and is not a folder")
    if (root / MANIFEST).exists():
        raise UsageError(f"--save-tensors {root}: already holds saved tensors ({MANIFEST}); choose a new folder")


def read_manifest(root: Path) -> Manifest:
    """Read a store's manifest.

    Raises:
        UsageError: no such folder, no manifest, unreadable JSON, another format, or a
            malformed case entry.
    """
    root = Path(root)
    path = root / MANIFEST
    if not root.is_dir():
        raise UsageError(f"{root}: no such folder of saved tensors")
    if not path.exists():
        raise UsageError(f"{root}: no {MANIFEST} (not a folder written by --save-tensors)")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise UsageError(f"{path}: format {got!r}, expected {FORMAT!r}")
    cases = {}
    for case_id, d in (data.get("cases") or {}).items():
        try:
            cases[case_id] = SavedCase.from_json(case_id, d)
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"{path}: case {case_id}: malformed entry ({type(exc).__name__}: {exc})") from None
    return Manifest(root, str(data.get("suite", "")), data.get("run") or {}, data.get("env") or {}, cases)


def load_tensors(root: Path, rel: str, entries: Mapping[str, Mapping[str, Any]], *, what: str,
                 device: torch.device | str = "cpu", verify: bool = True) -> dict[str, torch.Tensor]:
    """Load one safetensors file of a store and check it against its manifest entries.

    Args:
        rel: the file, relative to ``root``; entries: tensor name -> manifest entry;
        what: words for error messages (e.g. "inputs of moe/16"); verify: also compare
        every tensor's SHA-256 (dtype, shape and names are always checked).

    Returns:
        name -> tensor on ``device``.

    Raises:
        UsageError: missing or unreadable file, missing or extra tensor, other dtype or
            shape, or a SHA-256 that differs from the manifest's (the file was altered).
    """
    path = Path(root) / rel
    if not rel or not path.is_file():
        raise UsageError(f"{what}: file {path} is missing")
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise UsageError(f"{what}: {path} is not a readable safetensors file ({exc})") from None
    if set(tensors) != set(entries):
        raise UsageError(f"{what}: {path} holds tensors {sorted(tensors)}, the manifest lists {sorted(entries)}")
    for name, t in tensors.items():
        e = entries[name]
        if _dtype_name(t) != e.get("dtype") or list(t.shape) != list(e.get("shape", [])):
            raise UsageError(f"{what}: tensor {name} is {_dtype_name(t)}{list(t.shape)} in {path}, "
                             f"the manifest says {e.get('dtype')}{e.get('shape')}")
        if verify and tensor_sha256(t) != e.get("sha256"):
            raise UsageError(f"{what}: tensor {name} in {path} does not match its sha256 in the manifest "
                             "(the file was altered)")
    return {k: v.to(device) for k, v in tensors.items()}


def check_saved_inputs(root: Path, suite: str, cases: list[Case]) -> Manifest:
    """Check that a store holds, unaltered, the inputs of every case of a run
    (``--inputs-from DIR``): same suite, each case id present with the same op, size,
    dtype, seed and parameters, its inputs file intact (every SHA-256 checked).

    Returns:
        the manifest (to load each case's inputs with :func:`load_saved_inputs`).

    Raises:
        UsageError: the first mismatch, in one line.
    """
    m = read_manifest(root)
    if m.suite != suite:
        raise UsageError(f"--inputs-from {root}: saved from suite {m.suite!r}, this run is {suite!r}")
    for case in cases:
        saved = m.cases.get(case.case_id)
        if saved is None or not saved.inputs_file:
            known = ", ".join(k for k, c in m.cases.items() if c.inputs_file) or "none"
            raise UsageError(f"--inputs-from {root}: no saved inputs for case {case.case_id} (saved: {known})")
        mine = {"op": case.op, "size": case.size, "dtype": case.dtype, "seed": case.seed, "params": _plain(case.params)}
        theirs = {"op": saved.op, "size": saved.size, "dtype": saved.dtype, "seed": saved.seed, "params": saved.params}
        diff = [k for k in mine if mine[k] != theirs[k]]
        if diff:
            key = diff[0]
            if key == "params":
                pk = sorted(k for k in set(mine["params"]) | set(saved.params)
                            if mine["params"].get(k) != saved.params.get(k))
                detail = ", ".join(f"{k}={mine['params'].get(k)} here vs {saved.params.get(k)} saved" for k in pk)
            else:
                detail = f"{key} {mine[key]} here vs {theirs[key]} saved"
            raise UsageError(f"--inputs-from {root}: case {case.case_id} differs: {detail}")
        load_tensors(root, saved.inputs_file, saved.inputs, what=f"--inputs-from {root}: inputs of {case.case_id}")
    return m


def load_saved_inputs(m: Manifest, case: Case, device: torch.device, *,
                      like: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The saved inputs of ``case`` on ``device``, in place of the generated ``like``.

    Names, dtypes and shapes are checked against the manifest and against ``like`` (what
    this fibench generates for the case); the SHA-256s were checked by
    :func:`check_saved_inputs` before the run.

    Raises:
        UsageError: the saved inputs do not have the generated inputs' names, dtypes or
            shapes (saved by a fibench whose suite generated other inputs).
    """
    saved = m.cases[case.case_id]
    what = f"--inputs-from {m.root}: inputs of {case.case_id}"
    tensors = load_tensors(m.root, saved.inputs_file, saved.inputs, what=what, device=device, verify=False)
    if set(tensors) != set(like):
        raise UsageError(f"{what}: saved tensors {sorted(tensors)}, this suite generates {sorted(like)}")
    for name, t in tensors.items():
        if t.dtype != like[name].dtype or t.shape != like[name].shape:
            raise UsageError(f"{what}: tensor {name} is {_dtype_name(t)}{list(t.shape)}, this suite generates "
                             f"{_dtype_name(like[name])}{list(like[name].shape)}")
    return tensors
