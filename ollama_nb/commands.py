"""The ``%ollama`` subcommands (``use``, ``models``, ``schema``, ...): one function each.

Each is registered in :data:`COMMANDS` by :func:`command` and declares its own arguments with
IPython's ``@argument`` decorators, so it gets its own parser, its own usage line and a line in
``%%ollama?``. A line whose first word is a subcommand runs that subcommand; when its arguments
do not fit (``%ollama use the word …``), the error says how to send such a line as a prompt
instead (quote it), rather than guessing which was meant.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from IPython.core.error import StdinNotImplementedError, UsageError
from IPython.core.magic_arguments import argument, magic_arguments

from . import api
from . import models as manage
from .conversation import conversation
from .errors import ConfirmUnavailable, ModelNotFound, OllamaNbError, OptionError
from .hosts import endpoint, mask
from .options import parse_options
from .persist import export as export_replies
from .schema import SchemaError, tool_spec
from .settings import CONFIGURABLE, defaults, parse_setting
from .views import choose_progress

Namespace = dict[str, Any]


@dataclass(frozen=True)
class Context:
    """What a subcommand may use: the notebook's names and the magic's help text."""

    namespace: Namespace
    help: str = ""


Command = Callable[[Context, argparse.Namespace], None]
COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    """Register a subcommand; its ``@argument`` stack (below this decorator) makes its parser."""

    def register(function: Command) -> Command:
        function = magic_arguments(name=f"ollama {name}")(function)
        COMMANDS[name] = function
        return function

    return register


def run(name: str, words: list[str], context: Context) -> None:
    """Run subcommand ``name`` with the words that followed it on the line."""
    function = COMMANDS[name]
    parser = function.parser  # type: ignore[attr-defined]
    try:
        args = parser.parse_args(words)
    except UsageError as exc:
        usage = " ".join(parser.format_usage().split()).removeprefix(":: ")
        raise UsageError(
            f"{exc} (usage: {usage}). To ask the model something that starts with {name!r}, "
            f'quote it: %ollama -m MODEL "{name} {" ".join(words)}"'
        ) from None
    function(context, args)


def summary() -> str:
    """One line per subcommand, for ``%%ollama?`` and ``%ollama help``."""
    lines = ["subcommands (line magic only; quote a prompt that starts with one of these words):"]
    for function in COMMANDS.values():
        usage = " ".join(function.parser.format_usage().split()).removeprefix(":: ")  # type: ignore[attr-defined]
        first = (function.parser.description or "").strip().splitlines()[0]  # type: ignore[attr-defined]
        lines.append(f"  {usage:36} {first}")
    return "\n".join(lines)


def lookup(namespace: Namespace, name: str, what: str) -> Any:
    if name not in namespace:
        raise UsageError(f"{what} {name!r} is not defined in the notebook")
    return namespace[name]


@command("help")
def help_(context: Context, args: argparse.Namespace) -> None:
    """Show the options of %%ollama and these subcommands."""
    print(context.help)


@command("use")
@argument("model", metavar="MODEL", help="a model name, e.g. llama3.2 or qwen3:8b")
def use(context: Context, args: argparse.Namespace) -> None:
    """Set the default model, for cells without -m."""
    defaults.model = args.model
    print(f"Default model: {defaults.model}")


@command("models")
def models(context: Context, args: argparse.Namespace) -> None:
    """List the server's models with their capabilities (tools, thinking, vision)."""
    found = api.connect().models()
    print(f"{'model':28} {'size':>8}  {'family':10} {'quant':8} {'context':>8}  capabilities")
    for model in found:
        length = f"{model.context_length:,}" if model.context_length else ""
        print(f"{model.name:28} {model.size / 1e9:6.1f} GB  {model.family:10} {model.quantization:8} "
              f"{length:>8}  {', '.join(sorted(model.capabilities or ()))}")  # fmt: skip
    if not found:
        print(f"(no models on {api.connect().host}: get one with `%ollama pull NAME`)")


@command("schema")
@argument("function", metavar="FUNCTION", help="a function defined in the notebook")
def schema(context: Context, args: argparse.Namespace) -> None:
    """Show the tool schema the model sees for a function."""
    function = lookup(context.namespace, args.function, "function")
    try:
        spec = tool_spec(function)
    except SchemaError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(spec.schema, indent=2))
    for note in spec.notes:
        print(f"note: {note}")


_SETTINGS = ", ".join(f"{name}=" for name in CONFIGURABLE)


@command("config")
@argument("settings", nargs="*", metavar="KEY=VALUE",
          help=f"{_SETTINGS} or a model option such as num_ctx=")  # fmt: skip
def config(context: Context, args: argparse.Namespace) -> None:
    """Show or set the defaults (model, host, credentials, timeouts, tool rounds, model options)."""
    option_pairs = []
    for pair in args.settings:
        key, _, value = pair.partition("=")
        if key not in CONFIGURABLE:
            option_pairs.append(pair)
            continue
        try:
            setattr(defaults, key, parse_setting(key, value))
        except OllamaNbError as exc:
            raise UsageError(str(exc)) from None
    try:
        options, notes = parse_options(option_pairs)
    except OptionError as exc:
        raise UsageError(f"{exc} (config also takes {_SETTINGS})") from None
    if options:
        defaults.options = {**defaults.options, **options}
    for note in notes:
        print(note)
    settings = defaults.settings
    key = "set" if settings.api_key else "not set (OLLAMA_API_KEY goes to ollama.com only)"
    try:
        host = str(endpoint(settings.host))
    except OllamaNbError:
        host = mask(settings.host or "")
    shown = {name: getattr(settings, name) for name in CONFIGURABLE if name not in ("host", "api_key")}
    print(f"host={host} api_key={key} " + " ".join(f"{k}={v}" for k, v in shown.items())
          + f" options={json.dumps(dict(settings.options))}")  # fmt: skip


@command("history")
@argument("name", nargs="?", default="default", metavar="NAME", help="the conversation (default: default)")
def history(context: Context, args: argparse.Namespace) -> None:
    """Print a conversation kept with --chat NAME."""
    print(conversation(args.name).text())


@command("reset")
@argument("name", nargs="?", default="default", metavar="NAME", help="the conversation (default: default)")
def reset(context: Context, args: argparse.Namespace) -> None:
    """Empty a conversation kept with --chat NAME."""
    chat = conversation(args.name)
    chat.reset()
    print(f"Conversation {chat.name!r} is empty.")


@command("export")
@argument("path", metavar="PATH", help="where to write: .ipynb, .md, .html or .json")
@argument("reply", nargs="?", default="_ollama", metavar="VAR", help="the reply (default: _ollama)")
def export(context: Context, args: argparse.Namespace) -> None:
    """Write a reply to a file (.ipynb, .md, .html or .json)."""
    reply = lookup(context.namespace, args.reply, "reply")
    try:
        written = export_replies([reply], args.path)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(f"Wrote {written}")


# -- models on the server: fetch, make, look at, unload, remove ------------------------------------
T = TypeVar("T")


def _or_a_prompt(name: str, model: str, call: Callable[[], T]) -> T:
    """Run ``call``; a missing model also says how to ask a prompt that starts with ``name``
    (``%ollama show me`` meant as a question)."""
    try:
        return call()
    except ModelNotFound as exc:
        raise ModelNotFound(
            f"{exc} To ask the model something that starts with {name!r}, quote it: "
            f'%ollama -m MODEL "{name} {model}"'
        ) from None


@command("pull")
@argument("model", metavar="NAME", help="a model to fetch, e.g. llama3.2 or qwen3:8b")
def pull(context: Context, args: argparse.Namespace) -> None:
    """Fetch a model onto the server, with progress (run again to resume an interrupted pull)."""
    _or_a_prompt("pull", args.model,
                 lambda: manage.pull(args.model, progress=choose_progress("auto") or False, backend=api.connect()))  # fmt: skip


@command("create")
@argument("model", metavar="NAME", help="the new model's name")
@argument("--from", dest="source", required=True, metavar="FILE.gguf|MODEL",
          help="a GGUF file (uploaded unless the server has it), or a model the server has")  # fmt: skip
@argument("--template", metavar="FILE", help="a file holding the chat template (Go template syntax)")
@argument("--system", metavar="TEXT", help="the system prompt it starts with")
@argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE", help="a parameter (repeatable)")
def create(context: Context, args: argparse.Namespace) -> None:
    """Make a model from a GGUF file or from a model the server has, with progress."""
    template = None
    if args.template:
        try:
            template = Path(args.template).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"Cannot read the template {args.template}: {exc.strerror or exc}") from None
    parameters: dict[str, Any] = {}
    notes: list[str] = []
    try:
        for pair in args.option:  # a repeated list parameter adds up (-o stop=A -o stop=B), as in a Modelfile
            (key, value), *_ = (found := parse_options([pair]))[0].items()
            earlier = parameters.get(key)
            parameters[key] = (
                earlier + value if isinstance(earlier, list) and isinstance(value, list) else value
            )
            notes += found[1]
    except OptionError as exc:
        raise UsageError(
            f"{exc} (create takes the model's parameters: -o temperature=0.2 -o num_ctx=8192)"
        ) from None
    for note in notes:
        print(note)
    manage.create(args.model, args.source, template=template, system=args.system, parameters=parameters or None,
                  progress=choose_progress("auto") or False, backend=api.connect())  # fmt: skip


@command("ps")
def ps(context: Context, args: argparse.Namespace) -> None:
    """List the models loaded in memory: size, context length, until when."""
    loaded = manage.ps(backend=api.connect())
    for model in loaded:
        print(manage.loaded_line(model))
    if not loaded:
        print("(no model is loaded: the next cell that uses one loads it)")


@command("show")
@argument("model", metavar="NAME", help="a model the server has")
def show(context: Context, args: argparse.Namespace) -> None:
    """Show a model's template, parameters, capabilities, context length and license."""
    print(
        "\n".join(
            _or_a_prompt("show", args.model, lambda: manage.show(args.model, backend=api.connect())).lines()
        )
    )


@command("unload")
@argument("model", metavar="NAME", help="a loaded model")
def unload(context: Context, args: argparse.Namespace) -> None:
    """Free a model's memory now (keep_alive 0); it loads again when next used."""
    gone = _or_a_prompt("unload", args.model, lambda: manage.unload(args.model, backend=api.connect()))
    print(f"Unloaded {args.model}." if gone else f"Asked to unload {args.model}: the server still lists it.")


@command("rm")
@argument("model", metavar="NAME", help="a model the server has")
@argument("--yes", action="store_true", help="do not ask first (where nobody can answer, as under nbclient)")
def rm(context: Context, args: argparse.Namespace) -> None:
    """Delete a model from the server (asks first, unless --yes)."""
    backend = api.connect()
    if not args.yes:
        try:
            answer = input(f"Delete {args.model} from {backend.host}? [y/N] ")
        except StdinNotImplementedError:  # nbclient, papermill: nobody can answer
            raise ConfirmUnavailable(
                f"Nobody can answer here: `%ollama rm {args.model} --yes` deletes it without asking."
            ) from None
        if answer.strip().lower() not in ("y", "yes"):
            print(f"Kept {args.model}.")
            return
    _or_a_prompt("rm", args.model, lambda: manage.rm(args.model, backend=backend))
    print(f"Deleted {args.model} from {backend.host}.")
