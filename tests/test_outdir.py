"""prepare_out_dir: every output folder is checked before any work, with one line."""

import os

import pytest

from fibench.errors import UsageError
from fibench.outdir import prepare_out_dir

RUN = ("run.json", "results.jsonl", "results.csv")


def _prepare(path, **kw):
    return prepare_out_dir(path, owned=kw.pop("owned", RUN), what=kw.pop("what", "run"), **kw)


def test_a_new_nested_folder_is_created(tmp_path):
    assert _prepare(tmp_path / "a" / "b") == []
    assert (tmp_path / "a" / "b").is_dir()
    assert not (tmp_path / "a" / "b" / ".fibench-write-check").exists()  # the write probe is removed


def test_an_existing_file_is_refused(tmp_path):
    (tmp_path / "FILE").write_text("x")
    with pytest.raises(UsageError, match="FILE: is an existing file, not a folder"):
        _prepare(tmp_path / "FILE")


def test_a_folder_under_a_file_is_refused_naming_the_file(tmp_path):
    (tmp_path / "FILE").write_text("x")
    with pytest.raises(UsageError, match=r"FILE is a file, so no folder can be created under it"):
        _prepare(tmp_path / "FILE" / "sub" / "deeper")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_an_uncreatable_folder_is_refused():
    with pytest.raises(UsageError, match=r"/proc/x: cannot write there"):
        _prepare("/proc/x")


def test_a_folder_holding_a_run_is_refused_unless_resumed(tmp_path):
    (tmp_path / "run.json").write_text("{}")
    (tmp_path / "results.csv").write_text("")
    with pytest.raises(UsageError, match=r"already holds a run \(run.json, results.csv\); .* --resume"):
        _prepare(tmp_path)
    assert _prepare(tmp_path, resume=True) == ["run.json", "results.csv"]


def test_resume_needs_a_run_there(tmp_path):
    with pytest.raises(UsageError, match="--resume: .* holds no run to continue"):
        _prepare(tmp_path / "nothing", resume=True)
    assert not (tmp_path / "nothing").exists()


def test_an_audit_folder_is_refused_without_a_resume_hint(tmp_path):
    (tmp_path / "skips.csv").write_text("")
    with pytest.raises(UsageError) as err:
        _prepare(tmp_path, owned=("skips.csv", "skips.md"), what="skips audit")
    assert "already holds a skips audit (skips.csv); choose a new folder" in str(err.value)
    assert "--resume" not in str(err.value)


def test_unrelated_files_do_not_block(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    assert _prepare(tmp_path) == []
