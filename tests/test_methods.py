"""The method registry: every method against the interface of paretoprune.methods.base, and no
code outside the method modules and their training runners that names a method."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

import pytest

from paretoprune.config import TrainSpec
from paretoprune.methods import DEFAULT_METHOD, METHODS, get_method, option_owners
from paretoprune.methods.base import SCALARIZATIONS, Method, MethodOptions, Preflight, Runner
from paretoprune.settings import settings_of

PACKAGE = Path(__file__).resolve().parents[1] / "paretoprune"


def _module_file(dotted: str) -> Path:
    return PACKAGE.parent.joinpath(*dotted.split(".")).with_suffix(".py")


def _parameters(fn) -> list[tuple[str, object, object]]:
    """(name, kind, default) of each parameter after ``self``."""
    params = list(inspect.signature(fn).parameters.values())
    if params and params[0].name == "self":
        params = params[1:]
    return [(p.name, p.kind, p.default) for p in params]


def test_the_registry_lists_every_method_module_default_first():
    modules = {p.stem for p in (PACKAGE / "methods").glob("*.py")} - {"__init__", "base", "ramp"}
    assert {m.replace("-", "_") for m in METHODS} == modules
    assert next(iter(METHODS)) == DEFAULT_METHOD


@pytest.mark.parametrize("name", list(METHODS))
def test_each_method_meets_the_interface(name):
    method = get_method(name)
    assert isinstance(method, Method) and method.name == name
    assert method.scalarization in SCALARIZATIONS and method.optimizers
    lo, hi = method.range
    assert lo < hi and method.dense_end in ("lo", "hi")
    # its options: a frozen dataclass of checked settings, made with its defaults
    options = method.options
    assert issubclass(options, MethodOptions) and dataclasses.is_dataclass(options)
    assert options.__dataclass_params__.frozen
    assert set(settings_of(options)) == set(options.names())  # every field is a setting
    assert method.parameter is None or method.parameter in options.names()
    spec = TrainSpec(method=name)
    assert spec.options == options() and spec.optimizer == method.optimizers[0]
    # its runner and preflight match the protocols, parameter for parameter
    runner = method.load_runner()
    assert _parameters(runner) == _parameters(Runner.__call__), method.runner
    assert inspect.signature(runner).return_annotation in ("RunResult", inspect.Signature.empty)
    preflight = method.load_preflight()
    if method.preflight:
        assert [p[0] for p in _parameters(preflight)] == \
            [p[0] for p in _parameters(Preflight.__call__)], method.preflight
    else:
        assert preflight is None
    # the runs a sweep of it adds: a dense reference, and the fine-tuning of its selection
    dense = method.dense_reference(spec)
    assert isinstance(dense, TrainSpec) and dense.threshold == 0.0
    finetune = method.finetune(spec)
    assert isinstance(finetune, TrainSpec) and not finetune.regrow
    for hook in (method.check_spec, method.check_sweep, method.check_given):
        assert hook is None or callable(hook)


def test_an_option_several_methods_take_has_one_type_and_check():
    for name, owners in option_owners().items():
        fields = [get_method(m).options.__dataclass_fields__[name] for m in owners]
        assert len({str(f.type).replace(" | None", "") for f in fields}) == 1, name


# ----------------------------------------------------------------------------------------------
# nobody else names a method
# ----------------------------------------------------------------------------------------------


def _allowed_files() -> set[Path]:
    """The method modules and the training modules their runners and preflights live in."""
    allowed = set((PACKAGE / "methods").glob("*.py"))
    for method in METHODS.values():
        for path in (method.runner, method.preflight):
            if path:
                allowed.add(_module_file(path.partition(":")[0]))
    return allowed


def method_name_uses(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string constant that is a method's name -- a comparison, a key, a
    default, an argument. The planner's geometries share two words with method names
    ("weighted-sum", "epsilon" as a scalarization): a line about a scalarization is not counted."""
    names = set(METHODS)
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and node.value in names:
            line = lines[node.lineno - 1]
            if "scalarization" not in line:
                found.append((node.lineno, line.strip()))
    return found


def test_the_scan_finds_a_branch_on_a_method_name():
    code = ('def f(spec):\n    if spec.method == "gmp":\n        return 1\n'
            '    return spec.as_method("weighted-sum")\n'
            'def g(scalarization="weighted-sum"):\n    pass\n')
    assert [line for line, _ in method_name_uses(code)] == [2, 4]


def test_no_code_outside_the_method_modules_and_runners_names_a_method():
    allowed = _allowed_files()
    assert _module_file("paretoprune.training.gmp") in allowed
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in allowed:
            continue
        for line, text in method_name_uses(path.read_text()):
            offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {text}")
    assert offenders == [], "\n".join(offenders)
