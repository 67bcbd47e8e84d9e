"""Reason rendering (placeholders for dynamic parts) and group keys."""

import ast

import pytest

from fibench.audit.skips.reasons import group_key, key_pattern, render


def rendered(source: str, consts: dict | None = None) -> tuple[str, bool]:
    result = render(ast.parse(source, mode="eval").body, consts or {})
    return result.text, result.dynamic


@pytest.mark.parametrize(
    "source, text, dynamic",
    [
        ('"plain"', "plain", False),
        ('"implicit " "concatenation"', "implicit concatenation", False),
        ('f"FA3 is not supported on {device}"', "FA3 is not supported on {device}", True),
        ('f"{x!r:>10} wide"', "{x} wide", True),
        ('f"needs {torch.version.cuda}"', "needs {torch.version.cuda}", True),
        ('f"got {len(shape)} dims"', "got {len(...)} dims", True),
        ('f"str {str(dtype)} repr {repr(obj)}"', "str {dtype} repr {obj}", True),
        ('"a " + name + " b"', "a {name} b", True),
        ('"SM%d only" % sm', "SM{sm} only", True),
        ('"%s and %r" % (a, b)', "{a} and {b}", True),
        ('"%(pkg)s >= %(v)s" % {"pkg": p, "v": "1.2"}', "{p} >= 1.2", True),
        ('"100%% sure %s" % x', "100% sure {x}", True),
        ('"{} vs {}".format(a, "b")', "{a} vs b", True),
        ('"{0}/{1}/{0}".format(a, b)', "{a}/{b}/{a}", True),
        ('"{name.attr} here".format(name=obj)', "{obj.attr} here", True),
        ('"{missing}".format()', "{missing}", True),
        ("reason", "{reason}", True),
        ("make_reason(case, dtype)", "{make_reason(...)}", True),
        ("get()", "{get()}", True),
        ('"a" if flag else "b"', "a | b", False),
        ("x - y", "{x - y}", True),
        ("None", "", False),
    ],
)
def test_render(source, text, dynamic):
    assert rendered(source) == (text, dynamic)


def test_module_constants_are_substituted():
    consts = {"MSG": "not on this GPU", "NAME": "cutlass"}
    assert rendered("MSG", consts) == ("not on this GPU", False)
    assert rendered('f"{NAME} fails: " + MSG', consts) == ("cutlass fails: not on this GPU", False)
    assert rendered('"%s is slow" % NAME', consts) == ("cutlass is slow", False)


def test_long_placeholders_are_cut():
    text, _ = rendered("f'{" + "a" * 60 + "}'")
    assert text == "{" + "a" * 37 + "...}"


@pytest.mark.parametrize(
    "a, b",
    [
        ("FA3 is not supported on {device}", "fa3 is NOT supported on {dev}!"),
        ("Doesn't work on CPU.", "does not work on cpu"),
        ("can't set float", "cannot set float"),
        ("`x`  must be   positive", "'x' must be positive"),
        ("multi-GPU only", "multi gpu only"),
        ("CuTe-DSL not available", "CuteDSL not available"),  # hyphenation of a compound
        ("needs sm_100", "needs SM 100"),
        ("needs SM100", "Needs sm-100."),
    ],
)
def test_group_key_ignores_case_punctuation_spacing_and_dynamic_parts(a, b):
    assert group_key(a) == group_key(b)


@pytest.mark.parametrize(
    "a, b",
    [
        ("k >= 1", "k < 1"),  # comparison operators are kept
        ("requires CUDA 12.8", "requires CUDA 128"),  # version dots are kept
        ("SM90 only", "SM100 only"),
        ("needs 1 2 GPUs", "needs 12 GPUs"),  # two numbers do not fuse into one
    ],
)
def test_group_key_keeps_what_changes_meaning(a, b):
    assert group_key(a) != group_key(b)


def test_group_key_of_no_reason_is_empty():
    assert group_key("") == ""


def test_key_pattern_matches_concrete_reasons():
    pattern = key_pattern(group_key("FA3 is not supported on {device}"))
    assert pattern.fullmatch(group_key("FA3 is not supported on cuda:0"))
    assert not pattern.fullmatch(group_key("FA2 is not supported on cuda:0"))
    assert key_pattern("no placeholder") is None
    assert key_pattern("{} x") is None  # too little literal text to match safely


def test_names_bound_in_several_branches_render_as_alternatives():
    from fibench.audit.skips.names import local_strings

    body = ast.parse(
        "reason = None\n"
        "if a:\n    reason = 'CUDA not available'\n"
        "elif b:\n    reason = f'needs SM{major}0+'\n"
        "else:\n    reason = 'CUDA not available'\n"
        "msg = compute()\n"
        "if c:\n    msg = 'plain'\n"
        "once = 'only one'\n"
        "cc = major * 10 + minor\n"
        "label = 'sm' + str(cc)\n"
    ).body
    strings = local_strings(body, {})
    # None adds nothing, a repeated value is listed once, a run-time part stays a placeholder
    assert strings["reason"] == "CUDA not available | needs SM{major}0+"
    assert strings["msg"] == "plain | {msg}"  # one binding is not text
    assert strings["once"] == "only one"
    assert rendered("reason", strings) == ("CUDA not available | needs SM{major}0+", True)
    assert rendered("str(reason)", strings) == ("CUDA not available | needs SM{major}0+", True)
    assert rendered("once", strings) == ("only one", False)
    assert "cc" not in strings  # arithmetic, not text: stays a placeholder
    assert rendered('f"got {cc}"', strings) == ("got {cc}", True)
    assert strings["label"] == "sm{cc}"


def test_module_names_bound_in_branches_render_as_alternatives():
    from fibench.audit.skips.names import ModuleNames

    names = ModuleNames()
    names.collect(ast.parse(
        "_SKIP = None\n"
        "if not ok():\n    _SKIP = 'CUDA not available'\n"
        "elif cc < 8:\n    _SKIP = 'needs SM80+'\n"
        "PREFIX = 'a'\n"
        "JOINED = PREFIX + 'b'\n"
    ).body)
    assert rendered("str(_SKIP)", names.consts) == ("CUDA not available | needs SM80+", True)
    assert rendered("JOINED", names.consts) == ("ab", False)
