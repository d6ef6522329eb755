"""Mapping MLflow registered models onto Floe for ``importers.mlflow`` (names as identifiers,
versions ``V<N>``), and finding what Floe already holds of them: every problem gathered and
refused at once, before anything is copied."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from registry.api.model import Model
from registry.api.model_version import ModelVersion
from registry.api.registry import Registry
from registry.catalog.store import SYSTEM_ALIASES
from registry.errors import Conflict, InvalidIdentifier, InvalidInput, NotFound
from registry.identifiers import IdentifierKind, format_identifier, parse_identifier
from registry.importers._mlflow_source import SourceModel, SourceVersion

__all__ = ["SOURCE_METRIC", "TAGS_METRIC", "Plan", "plan_import", "version_name"]

#: The version metric that records which MLflow model version a Floe version was copied from.
SOURCE_METRIC = "mlflow.source"
#: The version metric that holds the MLflow version's tags.
TAGS_METRIC = "mlflow.tags"
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


@dataclass
class Plan:
    """One MLflow model, mapped onto Floe, with what Floe already holds of it."""

    source: SourceModel
    name: str  # the Floe model's name, resolved
    label: str  # its fully qualified name
    model: Model | None  # None: not in Floe yet
    present: dict[str, ModelVersion] = field(default_factory=dict)  # MLflow version -> Floe's
    aliases: dict[str, str] = field(default_factory=dict)  # Floe alias -> Floe version name
    alias_notes: dict[str, list[str]] = field(default_factory=dict)  # by MLflow version
    current_aliases: dict[str, str] = field(default_factory=dict)  # Floe alias -> version
    tags: dict[str, str] = field(default_factory=dict)  # Floe tag -> value


def version_name(version: str) -> str:
    return f"V{version}"


def _floe_name(text: str, kind: IdentifierKind) -> str:
    """An MLflow name as a Floe identifier, resolved: a plain identifier as it is (upper-cased),
    anything else quoted, keeping its case."""
    if _PLAIN.fullmatch(text):
        return parse_identifier(text, kind)
    return parse_identifier('"' + text.replace('"', '""') + '"', kind)


def plan_import(registry: Registry, sources: Sequence[SourceModel]) -> list[Plan]:
    """Map every source model onto Floe and check it can be imported there; every problem is
    gathered and refused at once, before anything is copied."""
    problems: list[str] = []
    conflicts: list[str] = []
    by_name: dict[str, str] = {}
    plans = []
    namespace = f"{registry.database_name}.{registry.schema_name}"
    for source in sources:
        try:
            name = _floe_name(source.name, "model")
        except InvalidIdentifier as exc:
            problems.append(f"MLflow model {source.name!r} cannot be a Floe model: {exc.message}")
            continue
        if name in by_name:
            problems.append(f"MLflow models {by_name[name]!r} and {source.name!r} would both be "
                            f"Floe model {format_identifier(name)}")
            continue
        by_name[name] = source.name
        plan = Plan(source, name, f"{namespace}.{format_identifier(name)}",
                     _find_model(registry, name))
        conflicts += _match_versions(plan)
        problems += _map_aliases(plan) + _map_tags(plan)
        plans.append(plan)
    if conflicts or problems:
        kind = Conflict if conflicts else InvalidInput
        raise kind(f"nothing was imported: {'; '.join(conflicts + problems)}")
    return plans


def _find_model(registry: Registry, name: str) -> Model | None:
    try:
        return registry.get_model(format_identifier(name))
    except NotFound:
        return None


def _match_versions(plan: Plan) -> list[str]:
    """Find the Floe versions imported from the source's versions; what stands in the way."""
    if plan.model is None:
        return []
    source = plan.source
    fix = "import into another schema, or rename or delete the Floe one"
    floe_versions = {parse_identifier(v.version_name, "version"): v for v in plan.model.versions()}
    origins = {name: v.show_metrics().get(SOURCE_METRIC) for name, v in floe_versions.items()}
    for mv in floe_versions.values():
        for alias in mv.aliases:
            resolved = parse_identifier(alias, "alias")
            if resolved not in SYSTEM_ALIASES:
                plan.current_aliases[resolved] = parse_identifier(mv.version_name, "version")
    if floe_versions and not any(_origin_model(o) == source.name for o in origins.values()):
        return [f"{plan.label} exists and none of its versions came from MLflow model "
                f"{source.name!r}; {fix}"]
    problems = []
    for version in source.versions:
        name = version_name(version.version)
        if name in plan.current_aliases:
            problems.append(f"{plan.label} has an alias {name}, the name MLflow version "
                            f"{version.version} takes; unset it first")
        if name not in floe_versions:
            continue
        if _is_from(origins[name], source.name, version):
            plan.present[version.version] = floe_versions[name]
        else:
            problems.append(f"{plan.label} version {name} was not imported from MLflow model "
                            f"{source.name!r} version {version.version}; {fix}")
    return problems


def _origin_model(origin: object) -> object:
    return origin.get("model") if isinstance(origin, Mapping) else None


def _is_from(origin: object, model: str, version: SourceVersion) -> bool:
    return (isinstance(origin, Mapping) and origin.get("model") == model
            and origin.get("version") == version.version
            and origin.get("created_ms") == version.created_ms)


def _map_aliases(plan: Plan) -> list[str]:
    problems = []
    seen: dict[str, str] = {}
    versions = {v.version for v in plan.source.versions}
    for alias, version in sorted(plan.source.aliases.items()):
        if version not in versions:
            continue
        try:
            name = _floe_name(alias, "alias")
        except InvalidIdentifier as exc:
            problems.append(f"MLflow alias {alias!r} of {plan.source.name!r} cannot be a Floe "
                            f"alias: {exc.message}")
            continue
        if name in SYSTEM_ALIASES:
            plan.alias_notes.setdefault(version, []).append(
                f"MLflow alias {alias!r} not imported: {name} is a Floe system alias")
            continue
        if name in seen:
            problems.append(f"MLflow aliases {seen[name]!r} and {alias!r} of "
                            f"{plan.source.name!r} would both be Floe alias "
                            f"{format_identifier(name)}")
            continue
        seen[name] = alias
        plan.aliases[name] = version_name(version)
    return problems


def _map_tags(plan: Plan) -> list[str]:
    problems = []
    seen: dict[str, str] = {}
    for key, value in sorted(plan.source.tags.items()):
        try:
            name = _floe_name(key, "tag")
        except InvalidIdentifier as exc:
            problems.append(f"MLflow tag {key!r} of {plan.source.name!r} cannot be a Floe tag: "
                            f"{exc.message}")
            continue
        if name in seen:
            problems.append(f"MLflow tags {seen[name]!r} and {key!r} of {plan.source.name!r} "
                            f"would both be Floe tag {format_identifier(name)}")
            continue
        seen[name] = key
        plan.tags[name] = value
    return problems


