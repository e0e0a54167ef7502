"""``%%ollama`` and ``%ollama``: parse the options, look up names, call :func:`ollama_nb.chat`."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from IPython import get_ipython
from IPython.core.error import StdinNotImplementedError, UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from . import api
from .conversation import AskCounter
from .errors import ConfirmUnavailable, OptionError, PromptError
from .ollama_backend import endpoint
from .options import parse_options
from .persist import export
from .prompt import resolve
from .schema import SchemaError, tool_spec
from .stream import ToolCall
from .view import kernel_parent

SUBCOMMANDS = ("schema", "use", "models", "config", "reset", "history", "export", "help")


def _think(value: str) -> bool | str:
    if value in ("low", "medium", "high"):
        return value
    raise ValueError(value)


@magics_class
class OllamaMagics(Magics):
    @magic_arguments()
    @argument("-m", "--model", help="the model, e.g. llama3.2 (default: set with %%ollama use NAME)")
    @argument("--host", help="Ollama's URL (default: OLLAMA_HOST, else http://127.0.0.1:11434)")
    @argument("--system", help="a system prompt")
    @argument("--think", nargs="?", const=True, type=_think, metavar="LEVEL",
              help="ask the model to think (optionally low/medium/high)")  # fmt: skip
    @argument("--no-think", dest="think", action="store_const", const=False, help="ask it not to think")
    @argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
              help="a model option, repeatable: -o num_ctx=32000 -o temperature=0.2 -o 'stop=[\"x\"]'")  # fmt: skip
    @argument("--format", help="json, a JSON schema, or the name of a pydantic model or schema dict")
    @argument("--no-stream", dest="stream", action="store_false", help="wait for the whole answer")
    @argument("--out", metavar="VAR", help="also store the reply in VAR (it is always in _ollama)")
    @argument("--tools", metavar="F,G", help="notebook functions the model may call, by name")
    @argument(
        "--max-rounds", type=int, metavar="N", help="tool rounds before the model must answer (default 10)"
    )
    @argument("--confirm", action="store_true", help="ask y/N before each tool call")
    @argument(
        "--chat", metavar="NAME", help="continue the conversation NAME (re-running a cell replaces its turn)"
    )
    @argument("--image", action="append", default=[], metavar="PATH_OR_VAR",
              help="an image for a vision model, repeatable: a file path, or bytes or a PIL image in a variable")  # fmt: skip
    @argument("--raw", action="store_true", help="send the prompt verbatim: no {{name}} interpolation")
    @argument("--plain", action="store_true", help="stream plain text instead of widgets")
    @argument(
        "words", nargs="*", help="%%ollama only: the prompt, or a subcommand (schema, use, models, help)"
    )
    @line_cell_magic
    def ollama(self, line: str, cell: str | None = None) -> None:
        """Ask a local Ollama model; the answer streams into the notebook.

        Cell: the body is the prompt::

            %%ollama -m llama3.2 --tools add_two_numbers
            What is three plus one?

        Line: ``%ollama -m llama3.2 "Why is the sky blue?"``, or a subcommand:
        ``%ollama schema NAME`` (the tool schema the model sees), ``%ollama use NAME`` (the
        default model), ``%ollama models`` (what the server has, with capabilities), ``%ollama config
        [model=... host=... max_rounds=... num_ctx=...]`` (show or set defaults),
        ``%ollama history [NAME]`` and ``%ollama reset [NAME]`` (conversations),
        ``%ollama export PATH [VAR]`` (a reply as .ipynb, .md, .html or .json), ``%ollama help``.

        Prompts may pull in notebook values with ``{{name}}``, ``{{df.shape}}``, ``{{In[3]}}``,
        ``{{Out[3]}}`` or ``{{error}}`` (the last error); single braces go out as written, and
        ``--raw`` sends the prompt verbatim. The resolved prompt is kept under the answer.

        The reply is stored in ``_ollama``: ``.content``, ``.thinking``, ``.messages``,
        ``.metrics``, ``.trace``.
        """
        first = line.split(maxsplit=1)
        if cell is None and first and first[0] in SUBCOMMANDS:
            return self._subcommand(first[0], first[1] if len(first) > 1 else "")
        try:  # shell-style quoting, so -o 'stop=["x"]' and --system "Be brief." arrive unquoted
            args = self.ollama.parser.parse_args(shlex.split(line))
        except ValueError as exc:  # an unclosed quote, e.g. an apostrophe in a line prompt
            raise UsageError(f"{exc}: put the prompt in a %%ollama cell, or quote it") from None
        if cell is not None and args.words:
            raise UsageError(
                f"unexpected {' '.join(args.words)!r}: in a %%ollama cell the prompt is the cell body"
            )
        prompt = (cell if cell is not None else " ".join(args.words)).rstrip()
        if not prompt.strip():
            raise UsageError("the prompt is empty: write it in the cell body, under %%ollama")
        if args.out is not None and not args.out.isidentifier():
            raise UsageError(f"--out takes a variable name, not {args.out!r}")
        if args.max_rounds is not None and args.max_rounds < 1:
            raise UsageError("--max-rounds takes a number of at least 1")
        try:
            options, notes = parse_options(args.option)
            for note in notes:
                print(note)
        except OptionError as exc:
            raise UsageError(str(exc)) from None
        if not args.raw:
            try:
                prompt = resolve(prompt, self.shell.user_ns)
            except PromptError as exc:
                raise UsageError(str(exc)) from None
        remembered = api.conversations[args.chat].model if args.chat in api.conversations else None
        model = args.model or remembered or api.defaults.model
        if not model:
            raise UsageError(
                "no model: add -m MODEL (e.g. -m llama3.2), or set a default with %ollama use NAME"
            )
        try:
            reply = api.chat(
                prompt, model=model, host=args.host, system=args.system, think=args.think,
                options=options, format=self._format(args.format), tools=self._tools(args.tools),
                stream=args.stream, max_rounds=args.max_rounds,
                confirm=_ask if args.confirm else None, display="plain" if args.plain else "auto",
                chat=args.chat, cell=_cell_key(line, cell), images=[self._image(i) for i in args.image],
            )  # fmt: skip
        except BaseException as exc:  # KeyboardInterrupt too: the partial reply is kept
            if (partial := getattr(exc, "reply", None)) is not None:
                self._bind(partial, args.out)
            raise
        self._bind(reply, args.out)

    def _bind(self, reply: Any, out: str | None) -> None:
        self.shell.user_ns["_ollama"] = reply
        if out:
            self.shell.user_ns[out] = reply

    def _lookup(self, name: str, what: str) -> Any:
        if name not in self.shell.user_ns:
            raise UsageError(f"{what} {name!r} is not defined in the notebook")
        return self.shell.user_ns[name]

    def _tools(self, names: str | None) -> list[Any]:
        functions = []
        for name in filter(None, (n.strip() for n in (names or "").split(","))):
            function = self._lookup(name, "tool")
            if not callable(function):
                raise UsageError(f"tool {name!r} is a {type(function).__name__}, not a function")
            try:
                tool_spec(function)
            except SchemaError as exc:
                raise UsageError(str(exc)) from None
            functions.append(function)
        return functions

    def _image(self, value: str) -> Any:
        if value in self.shell.user_ns:
            return self.shell.user_ns[value]
        path = Path(value).expanduser()
        if not path.is_file():
            raise UsageError(f"--image {value}: no such file, and no variable of that name")
        return path

    def _format(self, value: str | None) -> Any:
        if value is None or value == "json":
            return value
        if value.lstrip().startswith("{"):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise UsageError(f"--format is not valid JSON: {exc}") from None
        found = self._lookup(value, "format")
        if not (isinstance(found, dict) or api._is_model(found)):
            raise UsageError(f"--format {value}: expected a pydantic model class or a JSON schema dict")
        return found

    def _subcommand(self, name: str, rest: str) -> None:
        if name == "help":
            print(self.ollama.__doc__)
        elif name == "use":
            if not rest.strip():
                raise UsageError("usage: %ollama use MODEL")
            api.defaults.model = rest.strip()
            print(f"Default model: {api.defaults.model}")
        elif name == "schema":
            function = self._lookup(rest.strip(), "function")
            try:
                spec = tool_spec(function)
            except SchemaError as exc:
                raise UsageError(str(exc)) from None
            print(json.dumps(spec.schema, indent=2))
            for note in spec.notes:
                print(f"note: {note}")
        elif name == "export":
            words = rest.split()
            if not words or len(words) > 2:
                raise UsageError(
                    "usage: %ollama export PATH.{ipynb,md,html,json} [VAR] (VAR defaults to _ollama)"
                )
            reply = self._lookup(words[1] if len(words) > 1 else "_ollama", "reply")
            try:
                written = export([reply], words[0])
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            print(f"Wrote {written}")
        elif name == "models":
            self._models()
        elif name == "config":
            self._config(rest)
        elif name in ("reset", "history"):
            chat = api.conversation(rest.strip() or "default")
            if name == "reset":
                chat.reset()
                print(f"Conversation {chat.name!r} is empty.")
            else:
                print(chat.text())

    def _models(self) -> None:
        print(f"{'model':28} {'size':>8}  {'family':10} {'quant':8} capabilities")
        for model in api.connect().models():
            found = sorted(model.capabilities or ())
            print(f"{model.name:28} {model.size / 1e9:6.1f} GB  {model.family:10} "
                  f"{model.quantization:8} {', '.join(found)}")  # fmt: skip

    def _config(self, rest: str) -> None:
        settings = api.defaults
        option_pairs = []
        for pair in rest.split():
            key, _, value = pair.partition("=")
            if key in ("model", "host"):
                setattr(settings, key, value or None)
            elif key in ("max_rounds", "max_result_chars"):
                if not value.isdigit() or int(value) < 1:
                    raise UsageError(f"{key} takes a whole number of at least 1, not {value!r}")
                setattr(settings, key, int(value))
            else:
                option_pairs.append(pair)
        try:
            options, notes = parse_options(option_pairs)
            settings.options.update(options)
            for note in notes:
                print(note)
        except OptionError as exc:
            raise UsageError(
                f"{exc} (config also takes model=, host=, max_rounds=, max_result_chars=)"
            ) from None
        print(f"model={settings.model} host={endpoint(settings.host)} "
              f"max_rounds={settings.max_rounds} max_result_chars={settings.max_result_chars} "
              f"options={json.dumps(settings.options)}")  # fmt: skip


def _cell_key(line: str, cell: str | None) -> str:
    """Which cell asks, so that running it again replaces its turn in a ``--chat``.

    The front end's cell id when it sends one (JupyterLab, Notebook 7, VS Code). Without one,
    a batch run (nbclient, papermill, ``jupyter execute``: no stdin) runs each cell once, so
    two cells with the same text are two turns: each execution is its own key. Consoles and
    terminal IPython, where running a cell again means recalling its text, go by the text.
    Asking more than once in one execution (two magics in a cell, a loop) numbers the asks.
    """
    parent = kernel_parent()
    cell_id = parent.get("metadata", {}).get("cellId")
    request = parent.get("header", {}).get("msg_id")
    if cell_id:
        identity = str(cell_id)
    elif request and not parent.get("content", {}).get("allow_stdin", True):
        identity = f"request {request}"
    else:
        identity = f"{line}\n{cell or ''}"
    shell = get_ipython()
    return _asks.key(identity, request or (shell.execution_count if shell else None))


_asks = AskCounter()


def _ask(call: ToolCall) -> bool:
    arguments = json.dumps(call.arguments, ensure_ascii=False)
    try:
        answer = input(f"Run {call.name}({arguments})? [y/N] ")
    except StdinNotImplementedError:  # nbclient, papermill: nobody can answer
        raise ConfirmUnavailable(
            f"--confirm needs a front end that can answer input() (JupyterLab, Notebook, VS Code): "
            f"{call.name} was not run. Drop --confirm to run tools here."
        ) from None
    return answer.strip().lower() in ("y", "yes")
