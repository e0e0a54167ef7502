"""``%%ollama`` and ``%ollama``: parse the options into :class:`Settings`, look up names in the
notebook, choose the view, run the pipeline. The subcommands (``%ollama use NAME`` ...) live in
:mod:`.commands`; a line prompt is never expanded by IPython (``{{name}}`` is ollama_nb's)."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

from IPython import get_ipython
from IPython.core.error import StdinNotImplementedError, UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, argument_group, kwds, magic_arguments
from IPython.display import display

from . import api, commands, inside_html, render
from .comparison import Variant, variants
from .conversation import AskCounter, conversations
from .errors import ConfirmUnavailable, OllamaNbError, OptionError, PromptError
from .kernel import can_insert_cells, kernel_parent
from .markdown import answer_code
from .options import option_values, parse_options, split
from .pipeline import is_model
from .prompt import resolve
from .reply import clipped
from .schema import SchemaError, tool_spec
from .settings import THINK_LEVELS, Settings, defaults
from .stream import ToolCall
from .views import choose_view


def _think(value: str) -> bool | str:
    """``--think``, ``--think high``, ``--think true/false``; several to compare: ``low,high``."""
    if value in THINK_LEVELS:
        return value
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    levels = split(value)
    if len(levels) > 1 and all(level in THINK_LEVELS for level in levels):
        return value
    raise ValueError(value)


def from_cell(
    models: str, think: bool | str | None, pairs: list[str]
) -> tuple[list[Variant], dict[str, Any], list[str]]:
    """What a cell asks for: its variants (``-m a,b``, ``--think low,high``, ``-o
    temperature=0,1``; one when nothing varies), the options they share, and notes on option
    names ollama_nb does not know. Raises :class:`OptionError`."""
    values = option_values(pairs)
    shared = {k: v[0] for k, v in values.items() if len(v) == 1}
    varying = {k: v for k, v in values.items() if len(v) > 1}
    _, notes = parse_options(f"{k}={json.dumps(v[0])}" for k, v in values.items())
    thinks: list[bool | str | None] = list(split(think)) if isinstance(think, str) else [think]
    return variants(split(models), thinks, varying), shared, notes


FIX_PROMPT = "Explain the error, then give the corrected cell."


def _cells(value: str) -> int:
    """``--notebook N``: a number of cells, at least 1."""
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def split_line(line: str) -> list[str]:
    """Shell-style words, so that -o 'stop=["x"]' and --system "Be brief." arrive unquoted.

    IPython's own ``parse_argstring`` splits with ``posix=False``, which keeps the quotes in the
    words; the parsers here are fed these words instead.
    """
    try:
        return shlex.split(line)
    except ValueError as exc:  # an unclosed quote, e.g. an apostrophe in a line prompt
        raise UsageError(f"{exc}: put the prompt in a %%ollama cell, or quote it") from None


@magics_class
class OllamaMagics(Magics):
    @magic_arguments()
    @kwds(epilog=commands.summary())
    @argument("words", nargs="*", metavar="PROMPT",
              help="line magic only: the prompt (quote it if it starts with a subcommand word)")  # fmt: skip
    @argument_group("Model and server")
    @argument("-m", "--model", help="the model, e.g. llama3.2 (default: set with %%ollama use NAME)")
    @argument("--host", help="Ollama's URL (default: OLLAMA_HOST, else http://127.0.0.1:11434)")
    @argument("--api-key", metavar="KEY",
              help="a bearer token for this host (else OLLAMA_API_KEY, sent to ollama.com only)")  # fmt: skip
    @argument("--keep-alive", metavar="DURATION",
              help="how long the server keeps the model loaded: 5m, 1h, 0 (unload), -1 (forever)")  # fmt: skip
    @argument("--think", nargs="?", const=True, type=_think, metavar="LEVEL",
              help="ask the model to think (optionally low/medium/high/max, or true/false)")  # fmt: skip
    @argument("--no-think", dest="think", action="store_const", const=False, help="ask it not to think")
    @argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
              help="a model option, repeatable: -o num_ctx=32000 -o temperature=0.2 -o 'stop=[\"x\"]'")  # fmt: skip
    @argument("--format", help="json, a JSON schema, or the name of a pydantic model or schema dict")
    @argument_group("Prompt")
    @argument("--system", help="a system prompt")
    @argument("--chat", metavar="NAME",
              help="continue the conversation NAME (re-running a cell replaces its turn)")  # fmt: skip
    @argument("--image", action="append", default=[], metavar="PATH_OR_VAR",
              help="an image for a vision model, repeatable: a file path, or bytes or a PIL image in a variable")  # fmt: skip
    @argument("--raw", action="store_true", help="send the prompt verbatim: no {{name}} interpolation")
    @argument("--notebook", nargs="?", const=True, type=_cells, metavar="N",
              help="send the notebook's cells ahead of the prompt: the last N, or as many as fit a quarter "
                   "of the context (newest first; secrets masked; '# ollama: skip' cells never)")  # fmt: skip
    @argument("--fix", action="store_true",
              help="explain the last error: send the failing cell, its error and the cells it depends on")  # fmt: skip
    @argument_group("Tools")
    @argument(
        "--tools",
        metavar="F,G",
        help="notebook functions the model may call, by name; mcp:SERVER or mcp:SERVER/TOOL for an MCP server's",
    )
    @argument("--max-rounds", type=int, metavar="N",
              help="tool rounds before the model must answer (default 10)")  # fmt: skip
    @argument("--confirm", action="store_true", help="ask y/N before each tool call")
    @argument_group("Output")
    @argument("--out", metavar="VAR", help="also store the reply in VAR (it is always in _ollama)")
    @argument("--no-stream", dest="stream", action="store_false", help="wait for the whole answer")
    @argument("--plain", action="store_true", help="stream plain text instead of widgets")
    @argument("--code", nargs="?", const="first", choices=("first", "all"),
              help="put the answer's first code block (all: every one) into a new cell below, not run; "
                   "it is also in _ollama.code")  # fmt: skip
    @argument_group("Seeing inside the model")
    @argument(
        "--render", action="store_true", help="also show the prompt as the model reads it (its template)"
    )
    @argument("--strict-context", action="store_true", default=None,
              help="have the server refuse a prompt longer than the context instead of cutting it")  # fmt: skip
    @argument("--logprobs", nargs="?", const=5, type=int, metavar="N",
              help="each token's probability and N alternatives (default 5), shaded under the answer")  # fmt: skip
    @argument("--force", action="store_true",
              help="send it even if it reloads the model for everyone (with %%ollama config shared=true)")  # fmt: skip
    @argument("--parallel", action="store_true",
              help="with several models, thinking levels or option values (-m a,b): ask them all at once")  # fmt: skip
    @no_var_expand
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
        ``%ollama export PATH [VAR]`` (a reply as .ipynb, .md, .html or .json), ``%ollama help``,
        ``%ollama render [options] PROMPT`` or a ``%%ollama render`` cell (the prompt as the
        model reads it; nothing is generated).

        Side by side: ``-m llama3.2,qwen3``, ``--think low,high``, ``-o temperature=0,1`` ask
        every combination (one after the other; ``--parallel``: at once) into columns of the
        cell, then a table of figures; ``_ollama`` is then a ``Comparison`` of the replies.

        Prompts may pull in notebook values with ``{{name}}``, ``{{df.shape}}``, ``{{In[3]}}``,
        ``{{Out[3]}}`` or ``{{error}}`` (the last error); single braces go out as written, and
        ``--raw`` sends the prompt verbatim. The resolved prompt is kept under the answer.

        The reply is stored in ``_ollama``: ``.content``, ``.thinking``, ``.messages``,
        ``.metrics``, ``.trace``.
        """
        words = split_line(line)
        if words and words[0] == "render":  # line or cell: the prompt as the model reads it
            return self._render(words[1:], line, cell)
        if cell is None and words and words[0] == "fix":  # %ollama fix [options] [what to add]
            words = ["--fix", *words[1:]]
        if cell is None and words and words[0] in commands.COMMANDS:
            # not a prompt: IPython's {name} expansion applies, as for any line magic
            words = split_line(self.shell.var_expand(line, depth=1) if self.shell else line)
            return commands.run(
                words[0], words[1:], commands.Context(self._namespace, self.ollama.__doc__ or "")
            )
        args = self.ollama.parser.parse_args(words)
        prompt = self._prompt(args, cell)
        remembered = conversations[args.chat].model if args.chat in conversations else None
        model = args.model or remembered or defaults.model
        if not model:
            raise UsageError(
                "no model: add -m MODEL (e.g. -m llama3.2), or set a default with %ollama use NAME"
            )
        try:  # several models, thinking levels or option values make a comparison
            grid, options, notes = from_cell(model, args.think, args.option)
            settings = self._settings(args, options)
        except OptionError as exc:
            raise UsageError(_as_option(exc)) from None
        for note in notes:
            print(note)
        if len(grid) > 1:
            return self._compare(prompt, grid, args, settings)
        (only,) = grid
        settings = settings.merge(model=only.model, think=only.think)
        view = choose_view("plain" if args.plain else "auto", only.model)
        try:
            reply = api.chat(prompt, settings=settings, chat=args.chat, cell=_cell_key(line, cell), view=view)
        except BaseException as exc:  # KeyboardInterrupt too: the partial reply is kept
            if (partial := getattr(exc, "reply", None)) is not None:
                self._bind(partial, args.out)
            raise
        if args.code:
            reply.code = self._insert_code(reply.content, every=args.code == "all")
        self._bind(reply, args.out)

    def _insert_code(self, answer: str, every: bool) -> str | None:
        """The answer's code into a new cell below this one (not run), where the front end can."""
        code = answer_code(answer, every=every)
        if code is None:
            print("--code: the answer has no code block, so no cell was added.")
        elif not can_insert_cells():
            print("--code: this front end cannot add a cell (nbconvert, papermill, nbclient): "
                  "the code is in _ollama.code.")  # fmt: skip
        elif self.shell is not None:
            self.shell.set_next_input(code.rstrip("\n"), replace=False)
        return code

    @property
    def _namespace(self) -> dict[str, Any]:
        assert self.shell is not None  # IPython gives every registered magic its shell
        return self.shell.user_ns

    def _prompt(self, args: argparse.Namespace, cell: str | None) -> str:
        if cell is not None and args.words:
            raise UsageError(
                f"unexpected {' '.join(args.words)!r}: in a %%ollama cell the prompt is the cell body"
            )
        prompt = (cell if cell is not None else " ".join(args.words)).rstrip()
        if not prompt.strip() and args.fix:
            return FIX_PROMPT
        if not prompt.strip():
            raise UsageError("the prompt is empty: write it in the cell body, under %%ollama")
        if args.raw:
            return prompt
        try:
            return resolve(prompt, self._namespace)
        except PromptError as exc:
            raise UsageError(str(exc)) from None

    def _settings(self, args: argparse.Namespace, options: dict[str, Any]) -> Settings:
        """Everything but the prompt, checked and looked up in the notebook, over the defaults."""
        if args.out is not None and not args.out.isidentifier():
            raise UsageError(f"--out takes a variable name, not {args.out!r}")
        if args.max_rounds is not None and args.max_rounds < 1:
            raise UsageError("--max-rounds takes a number of at least 1")
        try:
            return defaults.settings.merge(
                host=args.host, system=args.system, format=self._format(args.format), tools=self._tools(args.tools),
                stream=None if args.stream else False, max_rounds=args.max_rounds, options=options,
                confirm=_ask if args.confirm else None, images=[self._image(i) for i in args.image] or None,
                api_key=args.api_key, keep_alive=args.keep_alive, strict_context=args.strict_context,
                render=args.render or None, logprobs=True if args.logprobs else None, top_logprobs=args.logprobs,
                notebook="fix" if args.fix else args.notebook,
                force=args.force or None,
            )  # fmt: skip
        except OptionError:
            raise
        except OllamaNbError as exc:
            raise UsageError(str(exc)) from None

    def _compare(
        self, prompt: str, grid: list[Variant], args: argparse.Namespace, settings: Settings
    ) -> None:
        """Several models, thinking levels or option values: one column each, then a table."""
        if args.chat:
            raise UsageError(
                "a comparison cannot continue a conversation: drop --chat, or compare in a cell of its own"
            )
        if args.notebook or args.fix or args.code:
            raise UsageError(
                "--notebook, --fix and --code ask one model: drop them, or ask one model (-m NAME)"
            )
        try:
            result = api.compare_variants(prompt, grid, settings, display="plain" if args.plain else "auto",
                                          parallel=args.parallel)  # fmt: skip
        except BaseException as exc:  # an interrupt keeps what arrived, in the comparison
            if (partial := getattr(exc, "reply", None)) is not None:
                self._bind(partial, args.out)
            raise
        self._bind(result, args.out)

    def _render(self, words: list[str], line: str, cell: str | None) -> None:
        """``%ollama render [options] PROMPT`` (or a ``%%ollama render`` cell): the prompt as the
        model reads it, with the cell's settings, tools and conversation; nothing is generated."""
        args = self.ollama.parser.parse_args(words)
        prompt = self._prompt(args, cell)
        try:
            options, _ = parse_options(args.option)
            settings = self._settings(args, options).merge(model=args.model, think=args.think)
        except OptionError as exc:
            raise UsageError(_as_option(exc)) from None
        rendered = api.render_prompt(prompt, settings=settings, chat=args.chat, cell=_cell_key(line, cell))
        html = render.wrapped(inside_html.rendered_html(rendered, open_=True))
        text, more = clipped(rendered.text)  # the whole text is in --out VAR
        display(
            {"text/html": html, "text/plain": f"{text} … {more:,} characters more" if more else text},
            raw=True,
        )
        if args.out:
            self._namespace[args.out] = rendered

    def _bind(self, reply: Any, out: str | None) -> None:
        self._namespace["_ollama"] = reply
        if out:
            self._namespace[out] = reply

    def _tools(self, names: str | None) -> list[Any]:
        """Notebook functions by name, and MCP servers' tools (``mcp:NAME``, ``mcp:NAME/TOOL``) as
        written: those the pipeline starts and resolves."""
        functions: list[Any] = []
        for name in filter(None, (n.strip() for n in (names or "").split(","))):
            if name.startswith("mcp:"):
                functions.append(name)
                continue
            function = commands.lookup(self._namespace, name, "tool")
            if not callable(function):
                raise UsageError(f"tool {name!r} is a {type(function).__name__}, not a function")
            try:
                tool_spec(function)
            except SchemaError as exc:
                raise UsageError(str(exc)) from None
            functions.append(function)
        return functions

    def _image(self, value: str) -> Any:
        if value in self._namespace:
            return self._namespace[value]
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
        found = commands.lookup(self._namespace, value, "format")
        if not (isinstance(found, dict) or is_model(found)):
            raise UsageError(f"--format {value}: expected a pydantic model class or a JSON schema dict")
        return found


def _as_option(exc: OptionError) -> str:
    """An option's problem in the magic's terms: ``-o num_ctx=8192``."""
    return f"{exc} (give it as -o {exc.key}=..., {exc.expected})" if exc.key else str(exc)


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
