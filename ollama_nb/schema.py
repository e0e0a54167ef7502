"""From a Python callable to the tool schema a model sees, and back: validating its arguments.

pydantic writes the JSON schema of every parameter type (Literal, Enum, Optional, list[T],
TypedDict, dataclasses, models, Annotated[..., Field(...)], dates, paths) and validates and
coerces what the model sends against the very same model; docstring_parser reads the
descriptions from Google, NumPy and reST docstrings.
"""

from __future__ import annotations

import inspect
import json
import sys
import types
import typing
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import docstring_parser
import pydantic
import typing_extensions
from pydantic.fields import FieldInfo

from .errors import ArgumentError, SchemaError


@dataclass(frozen=True)
class ToolSpec:
    """A callable, the schema the model sees for it, and the model that validates its arguments."""

    name: str
    function: Callable[..., Any]
    schema: dict[str, Any]
    arguments: type[pydantic.BaseModel]
    positional: tuple[str, ...] = ()  # positional-only parameters, passed in this order
    notes: tuple[str, ...] = field(default=())  # what the user should know, e.g. a missing hint

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.function)

    def validate(self, arguments: Any) -> dict[str, Any]:
        """Coerce the model's arguments (``"3"`` → 3, JSON text → list, value → Enum member...).

        Raises :class:`ArgumentError` naming every problem.
        """
        arguments = argument_object(arguments)
        try:
            values = self.arguments.model_validate(arguments)
        except pydantic.ValidationError as first:
            values = self._validate_decoded(arguments, first)
        return {name: getattr(values, name) for name in type(values).model_fields}

    def _validate_decoded(self, arguments: dict[str, Any], error: pydantic.ValidationError) -> Any:
        # small models often send a list or object as JSON text: decode those and try again
        decoded = decoded_values(arguments)
        if decoded != arguments:
            try:
                return self.arguments.model_validate(decoded)
            except pydantic.ValidationError:
                pass
        raise ArgumentError(_describe(error)) from None

    def call(self, values: dict[str, Any]) -> Any:
        args = [values.pop(name) for name in self.positional]
        return self.function(*args, **values)


_NOT_JSON = object()


def json_kind(value: Any) -> str:
    """What a decoded JSON value is, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    kinds = {str: "a string", list: "an array", int: "a number", float: "a number"}
    return next((name for kind, name in kinds.items() if isinstance(value, kind)), type(value).__name__)


def _loads(text: str, fallback: Any) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return fallback


def argument_object(arguments: Any) -> dict[str, Any]:
    """A tool call's arguments as the JSON object they must be (JSON text, as small models send
    it, is read); raises :class:`ArgumentError` saying what came instead."""
    if isinstance(arguments, str):
        text, arguments = arguments, _loads(arguments, _NOT_JSON)
        if arguments is _NOT_JSON:
            raise ArgumentError(f"arguments must be a JSON object, got text that is not JSON: {text[:80]!r}")
    if not isinstance(arguments, dict):
        raise ArgumentError(f"arguments must be a JSON object, got {json_kind(arguments)}")
    return arguments


def decoded_values(arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments with values sent as JSON text (a list or an object) decoded."""
    return {k: _loads(v, v) if isinstance(v, str) else v for k, v in arguments.items()}


def _describe(error: pydantic.ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "arguments"
        if item["type"] == "missing":
            problems.append(f"missing required argument {where!r}")
        elif item["type"] == "extra_forbidden":
            problems.append(f"unexpected argument {where!r}")
        else:
            problems.append(f"{where!r}: {item['msg']} (got {item['input']!r})")
    return "; ".join(problems)


_cache: weakref.WeakKeyDictionary[Callable[..., Any], ToolSpec] = weakref.WeakKeyDictionary()


def tool_spec(function: Callable[..., Any]) -> ToolSpec:
    """The :class:`ToolSpec` of ``function``, built once per function object."""
    spec = getattr(function, "__ollama_tool__", None)
    try:
        spec = spec or _cache.get(function)
    except TypeError:  # not weak-referenceable (a builtin): built each time, which is cheap enough
        return build(function)
    if spec is None:
        spec = _cache[function] = build(function)
    return spec


def build(function: Callable[..., Any], name: str | None = None) -> ToolSpec:
    """Inspect ``function`` and build its schema; raise :class:`SchemaError` listing every problem."""
    name = name or getattr(function, "__name__", None) or type(function).__name__
    problems: list[str] = []
    notes: list[str] = []
    if not callable(function):
        raise SchemaError(f"{name or function!r} is not callable")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"cannot read the signature of {name}: {exc}") from None
    # a callable object keeps its hints and docstring on its class's __call__
    hinted = function if inspect.isroutine(function) or inspect.isclass(function) else type(function).__call__
    try:
        hints = typing.get_type_hints(hinted, include_extras=True)
    except Exception as exc:  # a forward reference that does not resolve, a typo in a hint
        problems.append(f"its type hints cannot be resolved ({exc})")
        hints = {}
    doc = docstring_parser.parse(inspect.getdoc(function) or inspect.getdoc(hinted) or "")
    described = {p.arg_name: p.description for p in doc.params if p.description}

    fields: dict[str, Any] = {}
    positional: list[str] = []
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            notes.append(
                f"{'*' if param.kind == param.VAR_POSITIONAL else '**'}{param.name} is not shown to the model"
            )
            continue
        if param.kind == param.POSITIONAL_ONLY:
            positional.append(param.name)
        annotation = hints.get(param.name, inspect.Parameter.empty)
        if annotation is inspect.Parameter.empty:
            notes.append(f"{param.name!r} has no type hint: the model is told it is a string")
            annotation = typing.Annotated[Any, pydantic.WithJsonSchema({"type": "string"})]
        annotation = _compatible(annotation)
        extra: dict[str, Any] = {}
        if param.name in described and not _has_description(annotation):
            extra["description"] = described[param.name]
        if param.default is not param.empty:
            extra["default"] = param.default
        fields[param.name] = (annotation, FieldInfo(**extra))

    try:
        model = _arguments_model(name, fields)
        parameters = model.model_json_schema()
    except Exception:  # pydantic raises several error types; find every parameter at fault
        problems += [f"parameter {p!r}: {why}" for p, why in _unschematic(name, fields)] or ["unknown"]
    if problems:
        raise SchemaError(f"cannot make a tool of {name}: " + "; ".join(problems))

    description = "\n\n".join(p for p in (doc.short_description, doc.long_description) if p)
    schema = {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": _tidy(parameters)},
    }
    return ToolSpec(name, function, schema, model, tuple(positional), tuple(notes))


def _arguments_model(name: str, fields: dict[str, Any]) -> type[pydantic.BaseModel]:
    config = pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    return pydantic.create_model(f"{name}_arguments", __config__=config, **fields)


def _unschematic(name: str, fields: dict[str, Any]) -> list[tuple[str, str]]:
    """The parameters whose type pydantic cannot validate or describe, each with the reason."""
    found = []
    for param, spec in fields.items():
        try:
            _arguments_model(name, {param: spec}).model_json_schema()
        except Exception as exc:  # pydantic raises several error types here, each with a clear text
            annotation = getattr(spec[0], "__name__", repr(spec[0]))
            found.append((param, f"a model cannot send a {annotation} ({str(exc).splitlines()[0]})"))
    return found


def _compatible(annotation: Any) -> Any:
    """Swap ``typing.TypedDict`` classes for ``typing_extensions`` ones, which pydantic needs
    before Python 3.12 (notebook users write the former)."""
    if sys.version_info >= (3, 12):
        return annotation
    if typing.is_typeddict(annotation) and not isinstance(annotation, typing_extensions._TypedDictMeta):  # type: ignore[attr-defined]  # private, no public test
        hints = {k: _compatible(v) for k, v in typing.get_type_hints(annotation, include_extras=True).items()}
        return typing_extensions.TypedDict(annotation.__name__, hints, total=annotation.__total__)  # type: ignore[operator]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is None or not args or origin is typing.Literal:
        return annotation
    new = tuple(_compatible(a) for a in args)
    if new == args:
        return annotation
    if origin is typing.Annotated:
        return typing.Annotated[(new[0], *annotation.__metadata__)]
    if origin in (typing.Union, types.UnionType):
        return typing.Union[new]  # noqa: UP007 - built at run time from a tuple
    return origin[new]


def _has_description(annotation: Any) -> bool:
    metadata = getattr(annotation, "__metadata__", ())
    return any(isinstance(m, FieldInfo) and m.description for m in metadata)


def _noise(key: str, value: Any) -> bool:
    # extra arguments are refused by validation anyway; dict[str, T] keeps its value schema
    return key == "title" or (key == "additionalProperties" and value is False)


def tidy(parameters: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema written elsewhere (an MCP server's input schema) made to read as a notebook
    tool's does; the argument is left as it is. Draft-7 ``definitions`` count as ``$defs``."""
    copy = json.loads(json.dumps(parameters))  # a deep copy of plain JSON data
    for key in ("$schema", "$id"):  # about the document, not the arguments
        copy.pop(key, None)
    if isinstance(copy.get("definitions"), dict) and "$defs" not in copy:
        copy["$defs"] = copy.pop("definitions")
        copy = json.loads(json.dumps(copy).replace('"#/definitions/', '"#/$defs/'))
    return _tidy(copy)


def _tidy(parameters: dict[str, Any]) -> dict[str, Any]:
    """Make pydantic's schema read well to Ollama and a small model.

    Ollama's tool template knows ``type``, ``description``, ``enum``, ``items``, ``anyOf`` and
    nested ``properties``, not ``$ref``: references are inlined. Titles are noise; defaults are
    also said in the description, which every template shows.
    """
    defs = parameters.pop("$defs", {})

    def walk(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [walk(n, seen) for n in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/") and ref[8:] not in seen and ref[8:] in defs:
            target = ref[8:]
            merged = {**defs[target], **{k: v for k, v in node.items() if k != "$ref"}}
            return walk(merged, (*seen, target))
        out = {k: walk(v, seen) for k, v in node.items() if not _noise(k, v)}
        any_of = out.get("anyOf")
        if any_of and all(set(a) == {"type"} and isinstance(a["type"], str) for a in any_of):
            out.pop("anyOf")
            out["type"] = [a["type"] for a in any_of]
        elif any_of and len(any_of) == 2 and {"type": "null"} in any_of:  # Optional[X]: X or null
            (other,) = [a for a in any_of if a != {"type": "null"}]
            if isinstance(other.get("type"), str):
                out.pop("anyOf")
                out = {**other, **out, "type": [other["type"], "null"]}
        if "default" in out and "properties" not in out:
            said = out.get("description", "").rstrip()
            said += "" if not said or said.endswith(".") else "."
            out["description"] = f"{said} Default: {json.dumps(out['default'])}.".lstrip()
        return out

    tidy = {k: walk(v, ()) for k, v in parameters.items() if not _noise(k, v)}
    tidy = {"type": "object", "properties": tidy.get("properties", {}), "required": [], **tidy}
    if "$ref" in json.dumps(tidy):  # a recursive type keeps the definitions it refers to
        tidy["$defs"] = defs
    return tidy
