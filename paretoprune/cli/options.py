"""Command-line options generated from the configuration (:mod:`paretoprune.config`).

Every option of ``train`` and ``sweep`` that sets a :class:`~paretoprune.config.TrainSpec` or
:class:`~paretoprune.config.SweepConfig` field, or an option of a method
(:mod:`paretoprune.methods`), is made here from the field's
:class:`~paretoprune.settings.Setting`: its flag (``--field-name``), type, choices, help and the
default shown in ``--help``, where each method's options form a group of their own. The options
default to None ("not given"), so the configuration's own defaults apply and are written only
once; :func:`train_spec` builds the spec from the values the user set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import click

from paretoprune.config import TrainSpec
from paretoprune.methods import METHODS, option_owners
from paretoprune.settings import flag, settings_of

#: The ``--help`` section of the options every method shares.
COMMON_GROUP = "Options"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ":".join(f"{v:g}" for v in value)
    return str(value)


def _type_of(annotation: str, choices):
    if choices:
        return click.Choice(choices)
    for prefix, kind in (("bool", bool), ("int", click.INT), ("float", click.FLOAT)):
        if annotation.startswith(prefix):
            return kind
    return click.STRING


def _group(method: str) -> str:
    return f"Options of --method {method}"


def option(cls, name: str, *, methods: tuple[str, ...] = ()) -> click.Option:
    """The click option of field ``name`` of configuration class ``cls``; ``methods``: the
    methods that take it, said in its help, in whose ``--help`` sections it is shown."""
    setting = settings_of(cls)[name]
    field = cls.__dataclass_fields__[name]
    kind = _type_of(str(field.type), setting.choices)
    default = field.default
    shown = f"default: {_show(default)}" if default is not None and not callable(default) else ""
    if methods:
        shown = "; ".join(filter(None, [shown, "--method " + ", ".join(methods)]))
    help_text = setting.help + (f"  [{shown}]" if shown else "")
    if kind is bool:
        made = click.Option([f"{flag(name)}/--no-{flag(name)[2:]}"], default=None,
                            help=help_text)
    else:
        made = click.Option([flag(name)], type=kind, default=None, metavar=setting.metavar,
                            help=help_text, show_choices=True)
    # read by GroupedCommand
    made.help_groups = tuple(map(_group, methods)) or (COMMON_GROUP,)  # type: ignore[attr-defined]
    return made


def options_of(cls, *, skip: Iterable[str] = ()) -> list[click.Option]:
    """The options of every command-line field of ``cls`` (minus ``skip``), in field order."""
    skipped = set(skip)
    return [option(cls, name) for name, s in settings_of(cls).items()
            if s.cli and name not in skipped]


def method_options() -> list[click.Option]:
    """The options of every method, one per name (made from the first method that has it;
    ``--help`` shows it in the section of each method that takes it)."""
    owners = option_owners()
    made: list[click.Option] = []
    for method in METHODS.values():
        for name, s in settings_of(method.options).items():
            if s.cli and owners[name][0] == method.name:
                made.append(option(method.options, name, methods=owners[name]))
    return made


def training_options() -> list[click.Option]:
    """The options of ``train`` (and the training part of ``sweep``): the common settings,
    then each method's."""
    return options_of(TrainSpec) + method_options()


def add_options(options: list[click.Option]):
    """A decorator adding ``options`` to a click command."""

    def decorate(f):
        params = getattr(f, "__click_params__", [])
        # click applies decorators bottom-up and reverses at the end: keep our order on top
        f.__click_params__ = params + list(reversed(options))
        return f

    return decorate


class GroupedCommand(click.Command):
    """A command whose ``--help`` lists its options in sections (``option.help_groups``): the
    common ones, then one per method."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        groups: dict[str, list[tuple[str, str]]] = {COMMON_GROUP: []}
        groups.update((_group(name), []) for name in METHODS)
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            for group in getattr(param, "help_groups", (COMMON_GROUP,)) if record else ():
                groups[group].append(record)
        for title, records in groups.items():
            if not records:
                continue
            with formatter.section(title):
                formatter.write_dl(records)


def given(values: Mapping[str, Any], cls) -> dict[str, Any]:
    """The values of ``cls``'s fields that were given (not None)."""
    names = set(settings_of(cls))
    return {k: v for k, v in values.items() if k in names and v is not None}


def train_spec(values: Mapping[str, Any], *, sweep: bool = False) -> TrainSpec:
    """The :class:`TrainSpec` of a command's option values (those given), checked -- with the
    checks its method makes of the options as given (``sweep``: for a sweep)."""
    names = set(settings_of(TrainSpec)) | set(option_owners())
    given_values = {k: v for k, v in values.items() if k in names and v is not None}
    spec = TrainSpec.from_flat(given_values)
    check = spec.method_info.check_given
    if check is not None:
        check(given_values, sweep)
    return spec


def methods_epilog() -> str:
    """The ``--help`` epilog listing every ``--method`` with its summary and origin (a
    reconstruction from an abstract says so)."""
    lines = ["Methods (--method):"]
    for m in METHODS.values():
        lines.append(f"{m.name}: {m.summary}" + (f" [{m.origin}]" if m.origin else ""))
    return "\n\n".join(lines)
