"""Finding files (symlinks, skipped directories) and decoding them."""

import os

import pytest

from fibench.audit.skips.scan import scan_tree
from fibench.audit.skips.sources import decode_source, find_sources

SKIP = b'import pytest\n\n\ndef test_x():\n    pytest.skip("here")\n'


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "tree"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "test_a.py").write_bytes(SKIP)
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "test_cached.py").write_bytes(SKIP)
    (root / ".hidden").mkdir()
    (root / ".hidden" / "test_hidden.py").write_bytes(SKIP)
    (root / "notes.txt").write_text("pytest.skip('not python')")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "test_out.py").write_bytes(SKIP)
    os.symlink(root, root / "pkg" / "loop")  # a directory loop
    os.symlink(outside, root / "linked_dir")  # a directory outside the tree
    os.symlink(root / "pkg" / "test_a.py", root / "test_dup.py")  # file already in the tree
    os.symlink(outside / "test_out.py", root / "test_outside.py")  # file outside the tree
    os.symlink(root / "gone.py", root / "test_broken_link.py")
    return root


def test_symlinks_and_skipped_directories(tree):
    files, notes = find_sources(tree)
    assert [f.rel for f in files] == ["pkg/test_a.py", "test_outside.py"]
    assert sorted((n.rel, n.what) for n in notes) == [
        ("linked_dir", "symlinked directory not followed"),
        ("pkg/loop", "symlinked directory not followed"),
        ("test_broken_link.py", "broken symlink"),
        ("test_dup.py", "symlink to a file already scanned; not counted twice"),
        ("test_outside.py", "symlink to a file outside the tree; scanned"),
    ]


def test_scan_of_a_tree_with_a_loop_finishes_and_counts_once(tree):
    result = scan_tree(tree)
    assert [(s.file, s.line) for s in result.sites] == [("pkg/test_a.py", 5), ("test_outside.py", 5)]


def test_decode_utf8_bom_and_cookie():
    assert decode_source(b"\xef\xbb\xbfx = 'caf\xc3\xa9'\n").text == "x = 'café'\n"
    latin = decode_source(b"# -*- coding: latin-1 -*-\nx = 'caf\xe9'\n")
    assert (latin.text.splitlines()[1], latin.note) == ("x = 'café'", "decoded as iso-8859-1 (coding cookie)")
    assert decode_source(b"x = 1\n").note is None


def test_decode_falls_back_with_replacement():
    bad = decode_source(b"x = '\xff'\n")
    assert bad.text == "x = '\ufffd'\n"
    assert bad.note == "decoded with replacement (not valid utf-8)"
    unknown = decode_source(b"# coding: no-such-codec\nx = 1\n")
    assert unknown.note == "decoded as utf-8 (unknown encoding: no-such-codec)"
    assert unknown.text == "# coding: no-such-codec\nx = 1\n"


def test_file_with_null_bytes_is_listed_not_fatal(tmp_path):
    (tmp_path / "test_nul.py").write_bytes(b"import pytest\x00\npytest.skip('x')\n")
    (tmp_path / "test_ok.py").write_bytes(SKIP)
    result = scan_tree(tmp_path)
    assert [n.rel for n in result.unparsable] == ["test_nul.py"]
    assert [s.file for s in result.sites] == ["test_ok.py"]


def test_cross_module_alias_prefers_the_nearest_definition(tmp_path):
    for sub, reason in (("a", "near"), ("b", "far")):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "marks.py").write_text(
            f"import pytest\nneeds = pytest.mark.skipif(True, reason='{reason}')\n"
        )
    (tmp_path / "a" / "test_use.py").write_text("from .marks import needs\n\n\n@needs\ndef test_x():\n    pass\n")
    result = scan_tree(tmp_path)
    assert [(s.file, s.line, s.reason, s.via) for s in result.sites] == [
        ("a/test_use.py", 4, "near", "decorator"),
        ("b/marks.py", 2, "far", "alias definition"),  # nothing uses b's alias
    ]


def test_a_large_generated_tree_is_scanned_quickly(tmp_path):
    import time

    body = "".join(
        f"@pytest.mark.skipif(x < {i}, reason='needs {i} GPUs')\ndef test_{i}():\n    assert {i}\n\n" for i in range(40)
    )
    for n in range(600):
        (tmp_path / f"test_{n:03d}.py").write_text("import pytest\n\n" + body + "def helper():\n    return 1\n" * 20)
    started = time.perf_counter()
    result = scan_tree(tmp_path)
    elapsed = time.perf_counter() - started
    assert len(result.sites) == 600 * 40
    assert elapsed < 30, f"600 files took {elapsed:.1f} s"
