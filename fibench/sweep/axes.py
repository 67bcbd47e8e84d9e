"""Sweep axes as data: a suite declares its axes, the CLI builds ``fibench run <suite>``
from them, and a case is one point of the product of the swept axes.

An :class:`Axis` has a name (a Python identifier; the option is ``--name-with-dashes``),
a type, a help line, and where its default comes from: a model-preset field (``preset``),
a fixed ``default``, or nothing (then the axis is required). A swept axis takes a
comma-separated list on the command line and every value becomes its own case; a fixed
axis takes one value. All parsing and validation happens here, in the library, so the
messages are the same from the CLI and from Python (nvbench's named int64/string axes are
the model: ``add_int64_axis`` / ``add_string_axis``).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from fibench.errors import UsageError
from fibench.sweep.parsing import MAX_SIZE

MAX_VALUE = MAX_SIZE
"""Largest integer an axis accepts (the same bound as ``--sizes``)."""


@dataclass(frozen=True)
class Axis:
    """One named parameter of a suite.

    Attributes:
        name: identifier (``kv_len``); the option is ``--kv-len``; also the results.csv column.
        type: ``int``, ``float``, ``str`` or ``bool``.
        help: one line for ``fibench run <suite> --help``.
        default: value used when neither the command line nor the preset gives one (a list
            for swept axes with several default values). None and no ``preset``: required.
        swept: accepts a comma-separated list; each value is a separate case.
        choices: allowed values (``str`` axes).
        minimum: smallest allowed value (``int``/``float`` axes).
        preset: name of the :class:`~fibench.presets.ModelPreset` field that gives the
            default (e.g. ``hidden``); a preset value of 0 / "" means "not given".
        unit: unit shown in help and reports ("tokens", "rows").
    """

    name: str
    type: type
    help: str
    default: Any = None
    swept: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    preset: str | None = None
    unit: str = ""

    @property
    def option(self) -> str:
        """The command-line option, ``--kv-len`` for ``kv_len``."""
        return "--" + self.name.replace("_", "-")

    def parse(self, text: str) -> list[Any]:
        """Parse a command-line value into a list of values (one item for a fixed axis).

        Integers accept a ``k`` suffix (x1024). Raises :class:`UsageError` naming the
        option for an empty item, a value of the wrong type, a value outside ``choices``
        or below ``minimum``, a repeated value, or several values for a fixed axis.
        """
        items = [t.strip() for t in str(text).split(",")] if self.swept else [str(text).strip()]
        if not self.swept and "," in str(text) and self.type is not str:
            raise UsageError(f"{self.option} takes one value, got '{text}'")
        values = [self._parse_one(item) for item in items]
        seen: list[Any] = []
        for v in values:
            if v in seen:
                raise UsageError(f"{self.option}: {v} given twice")
            seen.append(v)
        return values

    def _parse_one(self, item: str) -> Any:
        if item == "":
            raise UsageError(f"{self.option}: empty value")
        if self.type is bool:
            lowered = item.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise UsageError(f"{self.option}: '{item}' is not true/false")
        if self.type is int:
            m = re.fullmatch(r"(-?\d+)([kK]?)", item)
            if not m:
                raise UsageError(f"{self.option}: '{item}' is not an integer")
            value: Any = int(m.group(1)) * (1024 if m.group(2) else 1)
            if abs(value) > MAX_VALUE:
                raise UsageError(f"{self.option}: {value} exceeds the limit {MAX_VALUE}")
        elif self.type is float:
            try:
                value = float(item)
            except ValueError:
                raise UsageError(f"{self.option}: '{item}' is not a number") from None
        else:
            value = item
        return self.check(value)

    def check(self, value: Any) -> Any:
        """Validate one already-typed value (from a preset, a default or Python callers).

        Raises:
            UsageError: wrong type, not among ``choices``, or below ``minimum``.
        """
        if self.type is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise UsageError(f"{self.option} must be an integer, got {value!r}")
        if self.type is float and not isinstance(value, (int, float)):
            raise UsageError(f"{self.option} must be a number, got {value!r}")
        if self.type is bool and not isinstance(value, bool):
            raise UsageError(f"{self.option} must be true or false, got {value!r}")
        if self.choices and value not in self.choices:
            raise UsageError(f"{self.option}: unknown value '{value}'; known: {', '.join(self.choices)}")
        if self.minimum is not None and value < self.minimum:
            raise UsageError(f"{self.option} must be >= {self.minimum:g}, got {value}")
        return value

    def format(self, value: Any) -> str:
        """A value as case ids and reports write it (:func:`format_value`)."""
        return format_value(value)

    @property
    def is_flag(self) -> bool:
        """A fixed boolean axis is an on/off flag on the command line (``--causal`` /
        ``--no-causal``); a swept boolean axis takes ``true,false``."""
        return self.type is bool and not self.swept

    def argument(self, value: Any) -> str:
        """The command-line argument that sets this axis to ``value`` (reproduce commands)."""
        if self.is_flag:
            return self.option if value else "--no-" + self.option[2:]
        return f"{self.option} {self.format(value)}"


def format_value(value: Any) -> str:
    """An axis value as case ids, reports and command lines write it (``true``/``false``
    for booleans, ``str`` otherwise)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _preset_value(axis: Axis, preset: Any) -> Any:
    if axis.preset is None or preset is None:
        return None
    value = getattr(preset, axis.preset, None)
    if value in (None, 0, "", ()):
        return None
    return value


def resolve_axes(axes: Sequence[Axis], raw: Mapping[str, Any], preset: Any = None) -> dict[str, list[Any]]:
    """Values of every axis: command line > model preset > the axis default.

    Args:
        axes: the suite's axes.
        raw: axis name -> command-line text (``str``), already-typed value or list of
            values, or None when not given. Names that are not axes are an error.
        preset: the model preset (a :class:`~fibench.presets.ModelPreset`) or None.

    Returns:
        axis name -> list of values (one item for fixed axes).

    Raises:
        UsageError: an unknown name, a malformed value, or a required axis missing.
    """
    known = {a.name: a for a in axes}
    for name in raw:
        if name not in known:
            raise UsageError(f"--{name.replace('_', '-')} is not an option of this suite")
    out: dict[str, list[Any]] = {}
    for axis in axes:
        given = raw.get(axis.name)
        if given is not None:
            if isinstance(given, str):
                values = axis.parse(given)
            else:
                values = [axis.check(v) for v in (given if isinstance(given, (list, tuple)) else [given])]
                if len(values) > 1 and not axis.swept:
                    raise UsageError(f"{axis.option} takes one value, got {len(values)}")
        else:
            from_preset = _preset_value(axis, preset)
            if from_preset is not None:
                values = [axis.check(from_preset)]
            elif axis.default is not None:
                default = axis.default
                values = [axis.check(v) for v in (default if isinstance(default, (list, tuple)) else [default])]
            else:
                where = f" and preset '{preset.name}' has no {axis.preset}" if preset is not None and axis.preset else ""
                raise UsageError(f"{axis.option} is required{where}")
        out[axis.name] = values
    return out


def axis_points(axes: Sequence[Axis], values: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """The product of the axes' values, first axis slowest; one dict per point."""
    names = [a.name for a in axes]
    return [dict(zip(names, combo)) for combo in itertools.product(*(values[n] for n in names))]


def id_axes(axes: Iterable[Axis], point: Mapping[str, Any]) -> tuple[str, ...]:
    """The swept axes that name a case in its id: every swept axis except one at its scalar
    default value. A principal axis declares its default as a list (``kv_len``, default
    ``[1024]``) and always appears; a modifier declares a scalar default (``quant`` bf16,
    ``page_size`` 16) and appears only when changed, so adding one to a suite leaves the ids of
    existing cases unchanged and two runs' rows still match."""
    def at_default(a: Axis) -> bool:
        return a.default is not None and not isinstance(a.default, (list, tuple)) and point[a.name] == a.default
    return tuple(a.name for a in axes if a.swept and not at_default(a))
