"""What happened inside one ``%%ollama`` cell, as plain data: one ordered list of typed entries.

An entry is a model turn, a tool round-trip, a notice, the context meter, the rendered
prompt or what was sent from the notebook; each has a ``kind`` tag, so a saved
trace reads back with one validated union (:mod:`ollama_nb.reply`). A new kind of entry is a
dataclass here, a member of :data:`Entry`, and a renderer in :mod:`ollama_nb.render`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar

import pydantic

from .stream import Metrics

Status = Literal["pending", "running", "ok", "error", "refused", "interrupted"]


@dataclass(frozen=True)
class Carried:
    """What a request sent besides its conversation that takes room in the prompt: the model
    (its template), the tool schemas, the system prompt, images, the format and the think
    setting. Sizes in characters; ``digest`` tells a change that keeps the sizes."""

    model: str = ""
    tools: int = 0  # characters of the tool schemas, as JSON
    system: int = 0  # characters of the system prompt
    images: int = 0  # images in the messages
    format: int = 0  # characters of the format ("json" or a JSON schema)
    think: str = ""  # the think setting sent ("" when not sent)
    digest: str = ""


@dataclass
class ToolRound:
    """One tool call and its result. Times are seconds; ``started_s`` counts from the cell's start."""

    name: str
    arguments: Any  # as the model sent them
    position: int  # the call's place in its turn (models may send index 0 for every call)
    turn: int  # the model turn that asked for it
    id: str = ""  # the server's call id, sent back as tool_call_id
    coerced: dict[str, Any] | None = None  # after validation, as the function received them
    result: str | None = None  # the text sent back to the model
    error: str | None = None
    status: Status = "pending"
    started_s: float = 0.0
    duration_s: float = 0.0
    server: str | None = None  # the MCP server the tool came from; None for a notebook function
    kind: Literal["round"] = "round"

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class ModelTurn:
    """One request to the model and its streamed answer."""

    index: int
    model: str
    started_s: float
    duration_s: float = 0.0
    metrics: Metrics | None = None
    done_reason: str = ""
    tool_calls: int = 0
    error: str | None = None
    first_token_s: float | None = None  # seconds from the request to the first streamed piece
    carried: Carried | None = None  # what its request sent besides the messages
    # seconds before the first byte that the server's durations leave out: queued, or busy answers
    wait_s: float | None = None
    kind: Literal["turn"] = "turn"


@dataclass
class Notice:
    """Something the user should know that is not the model's words (a limit reached, a turn dropped)."""

    text: str
    started_s: float = 0.0
    level: Literal["info", "warning"] = "info"
    kind: Literal["notice"] = "notice"


Check = Literal["", "kept", "dropped", "unchecked"]


@dataclass
class ContextUse:
    """How full the model's context was: the context meter of one cell.

    ``prompts`` holds each model turn's prompt size in tokens, ``answer_tokens`` what the last
    turn wrote; ``limit`` is the context length and ``source`` where it came from: the
    ``num_ctx`` sent, the server's setting for the loaded model (``/api/ps``), or the model's
    own maximum (``/api/show``; the server may use less). ``previous_prompt`` is the last prompt
    of the conversation's previous cell, and ``added_at_least`` a low estimate of the tokens added
    since (its answer and the new prompt): a prompt shorter than their sum may have been cut,
    unless what the requests carried besides messages changed (``carried``). ``check`` is the
    server's own answer, when it was asked. :mod:`ollama_nb.context` measures it and says what
    it means.
    """

    prompts: list[int]
    answer_tokens: int
    limit: int | None = None
    source: Literal["num_ctx", "server", "model", ""] = ""
    previous_prompt: int | None = None
    added_at_least: int = 0
    done_reason: str = ""
    num_predict: int | None = None  # the -o num_predict sent, to tell which limit cut an answer
    trend: list[int] = field(default_factory=list)  # tokens used by the conversation's earlier cells
    started_s: float = 0.0
    carried: list[Carried] = field(default_factory=list)  # what each turn's request carried
    carried_before: Carried | None = None  # what the previous cell's last request carried
    check: Check = ""  # the server's word on the last request: its oldest messages kept or dropped
    check_note: str = ""  # why the server was not asked, or could not say
    kind: Literal["context"] = "context"

    def __post_init__(self) -> None:
        if not isinstance(self.limit, int) or isinstance(self.limit, bool) or self.limit <= 0:
            self.limit = None  # a length that cannot be one (0, -4096, true) is unknown

    @property
    def prompt_tokens(self) -> int:
        return self.prompts[-1] if self.prompts else 0

    @property
    def used(self) -> int:
        return self.prompt_tokens + self.answer_tokens

    @property
    def fraction(self) -> float | None:
        return self.used / self.limit if self.limit else None


@dataclass
class RenderedPrompt:
    """The text the server's template made of the request, as the model reads it (``--render``)."""

    text: str
    image_count: int = 0
    started_s: float = 0.0
    kind: Literal["rendered"] = "rendered"


@dataclass
class SentCell:
    """One notebook cell the model was shown: its run number (``In [n]``) and a token estimate."""

    number: int
    tokens: int


@dataclass
class FromNotebook:
    """What the model was shown of the notebook (``--notebook``, ``--fix``), ahead of the prompt:
    the cells by run number with their token estimates, the cells left out for the budget (or
    past ``N``), the ``# ollama: skip`` cells, and how many values were masked under each name
    (never the values). :mod:`ollama_nb.nbcontext` builds it with the text sent."""

    cells: list[SentCell]
    tokens: int  # the estimate for the whole text sent
    budget: int | None = None
    last: int | None = None  # the N of --notebook N
    left_out: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    already: list[int] = field(default_factory=list)  # in the conversation already: not sent again
    masked: dict[str, int] = field(default_factory=dict)
    purpose: Literal["notebook", "fix"] = "notebook"
    started_s: float = 0.0
    kind: Literal["notebook"] = "notebook"


Entry = Annotated[
    ModelTurn | ToolRound | Notice | ContextUse | RenderedPrompt | FromNotebook,
    pydantic.Field(discriminator="kind"),
]
E = TypeVar("E", ModelTurn, ToolRound, Notice, ContextUse, RenderedPrompt, FromNotebook)


@dataclass
class Trace:
    """A cell's record, in the order things happened. Iterating it gives the tool round-trips."""

    model: str
    prompt: str = ""
    system: str = ""
    started_at: str = ""  # ISO 8601, wall clock
    entries: list[Entry] = field(default_factory=list)

    def add(self, entry: E) -> E:
        self.entries.append(entry)
        return entry

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.entries if isinstance(e, kind)]

    @property
    def turns(self) -> list[ModelTurn]:
        return self.of(ModelTurn)

    @property
    def rounds(self) -> list[ToolRound]:
        return self.of(ToolRound)

    @property
    def notices(self) -> list[Notice]:
        return self.of(Notice)

    def __iter__(self) -> Iterator[ToolRound]:
        return iter(self.rounds)

    def __len__(self) -> int:
        return len(self.rounds)

    def __getitem__(self, index: int) -> ToolRound:
        return self.rounds[index]

    @property
    def context(self) -> ContextUse | None:
        """The context meter, when the model finished a turn."""
        found = self.of(ContextUse)
        return found[-1] if found else None

    @property
    def rendered(self) -> RenderedPrompt | None:
        found = self.of(RenderedPrompt)
        return found[-1] if found else None

    @property
    def notebook(self) -> FromNotebook | None:
        """What the model was shown of the notebook, when it was."""
        found = self.of(FromNotebook)
        return found[-1] if found else None

    @property
    def duration_s(self) -> float:
        ends = [e.started_s + e.duration_s for e in self.entries if isinstance(e, (ModelTurn, ToolRound))]
        return max(ends, default=0.0)
