"""Command-line values converted without pydantic, when that gives exactly what typer would give.

typer (0.2x and later) converts every parameter of the command being run -- a str, a Path, a number,
a choice -- through a pydantic TypeAdapter built at run time: importing pydantic and building the
adapters is about 0.1 s of every `sigtrace trace`, more than the walk's own SQL on a small case.

Each parameter here gets a converter that handles the plain cases itself, with typer's own helpers
where typer has them (``coerce_cli_path`` once the value is a Path, ``coerce_cli_choice``): a str
stays that str, a path string becomes ``Path(value)`` (as pydantic's Path validation does), a plain
decimal number becomes its float / int within the parameter's min/max, a choice becomes its Enum
member. Anything else -- a value that is not plainly valid, a type or option not listed here -- goes
to typer's own converter, built only then. So every error line (``Invalid value for '--window'
('abc'): Input should be a valid number, ...``) is still typer's and pydantic's, word for word, and
a valid value gives the same Python value either way (tests/test_cli_params.py checks both against
typer's converter). With a typer that has no such converter (older releases convert through Click),
nothing is replaced.
"""
from __future__ import annotations

import math
import re
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

_SLOW = object()  # "not plainly valid here: ask typer's own converter"
_INT = re.compile(r"-?[0-9]{1,15}")
_FLOAT = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,15})?")


class _Converter:
    """Stands in for typer's per-parameter runtime converter (``param._runtime_param``): same
    ``coerce(value, param, ctx)`` call, typer's converter made and used only for what ``_fast``
    does not settle."""

    __slots__ = ("_info", "_annotation", "_leaf", "_slow")

    def __init__(self, annotation: Any, info: Any) -> None:
        self._annotation, self._info, self._slow = annotation, info, None
        self._leaf = get_args(annotation)[0] if get_origin(annotation) is list else annotation

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        multi = param.multiple or param.nargs == -1
        if value is None:  # typer's RuntimeParam.coerce, before any conversion
            return () if multi else None
        if get_origin(self._annotation) is list:
            if isinstance(value, (list, tuple)):
                items = [self._fast(v, param, ctx) for v in value]
                if not any(v is _SLOW for v in items):
                    return items
        elif not (multi and isinstance(value, str)):
            v = self._fast(value, param, ctx)
            if v is not _SLOW:
                return v
        return self.slow().coerce(value, param=param, ctx=ctx)

    def slow(self) -> Any:
        """typer's own converter for this parameter (pydantic), made on first need."""
        if self._slow is None:
            from typer._coercion import build_runtime_param, resolve_type_descriptor

            self._slow = build_runtime_param(resolve_type_descriptor(self._annotation, self._info))
        return self._slow

    def _fast(self, value: Any, param: Any, ctx: Any) -> Any:
        t, info = self._leaf, self._info
        if t is str:
            return value if type(value) is str else _SLOW
        if t is bool:
            return value if type(value) is bool else _SLOW
        if isinstance(t, type) and issubclass(t, Enum):
            from typer._param_types import coerce_cli_choice

            try:
                return coerce_cli_choice(value, choices=list(t), case_sensitive=info.case_sensitive, ctx=ctx)
            except ValueError:
                return _SLOW
        if t is float or t is int:
            if type(value) is t:
                number = value
            elif type(value) is str and (_INT if t is int else _FLOAT).fullmatch(value):
                number = t(value)
            else:
                return _SLOW
            if (t is float and not math.isfinite(number)) or (info.min is not None and number < info.min) \
                    or (info.max is not None and number > info.max):
                return _SLOW
            return number
        if t is Path:
            from typer._click.exceptions import BadParameter
            from typer._param_types import coerce_cli_path

            if type(value) is str:
                value = Path(value)
            elif not isinstance(value, Path):
                return _SLOW
            try:
                return coerce_cli_path(value, info, path_type=Path, param=param, ctx=ctx)
            except (BadParameter, ValueError, OSError):  # (a NUL in the path: os.stat's ValueError)
                return _SLOW  # typer says it, in its own words
        return _SLOW


def _plain(param: Any) -> bool:
    """A parameter whose conversion ``_Converter`` knows in full: a str / bool / Enum / float / int /
    Path, or a list of one of them, with no custom parser, clamp, date formats, file type or path_type
    (a Path's exists / readable / dir_okay checks are typer's own ``coerce_cli_path``)."""
    desc = getattr(param, "type_descriptor", None)
    info = getattr(desc, "parameter_info", None)
    if desc is None or info is None or desc.is_file or desc.is_tuple:
        return False
    if getattr(info, "parser", None) is not None or getattr(info, "clamp", False) \
            or getattr(info, "formats", None) is not None or getattr(info, "path_type", None) is not None:
        return False
    t = desc.annotation
    if get_origin(t) is list:
        args = get_args(t)
        if len(args) != 1:
            return False
        t = args[0]
    if t in (str, bool, float, int, Path):
        return True
    return isinstance(t, type) and issubclass(t, Enum)


def _give(param: Any) -> Any:
    if getattr(param, "_runtime_param", False) is None and _plain(param):
        param._runtime_param = _Converter(param.type_descriptor.annotation, param.type_descriptor.parameter_info)
    return param


def _typer_helpers() -> bool:
    """typer's helpers that ``_Converter`` calls are importable (none of them imports pydantic)."""
    try:
        from typer._click.exceptions import BadParameter  # noqa: F401
        from typer._coercion import build_runtime_param, resolve_type_descriptor  # noqa: F401
        from typer._param_types import coerce_cli_choice, coerce_cli_path  # noqa: F401
    except ImportError:
        return False
    return True


def install(command: Any) -> None:
    """Give every plain parameter of ``command`` and its subcommands the pydantic-free converter.
    Only where typer has the per-parameter runtime converter this replaces (``_runtime_param``).
    The ``--help`` option is made by Click when a command is parsed (``get_help_option(ctx)``, then
    cached): the command's own ``get_help_option`` is wrapped to give it the converter too.
    Nothing is replaced unless typer's own helpers this module calls are all there (they are typer's
    private modules: a typer that moved them keeps its own conversion, untouched)."""
    if not _typer_helpers():
        return
    for param in getattr(command, "params", ()):
        _give(param)
    made = getattr(command, "get_help_option", None)
    if made is not None and not getattr(made, "_sigtrace_converted", False):
        def get_help_option(ctx: Any, _made: Any = made) -> Any:
            option = _made(ctx)
            return option if option is None else _give(option)

        get_help_option._sigtrace_converted = True  # type: ignore[attr-defined]
        command.get_help_option = get_help_option
    for sub in (getattr(command, "commands", None) or {}).values():
        install(sub)
