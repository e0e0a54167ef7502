"""What happened inside one ``%%ollama`` cell: model turns and tool round-trips, as plain data."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from .stream import Metrics

Status = Literal["pending", "running", "ok", "error", "refused", "interrupted"]


@dataclass
class ToolRound:
    """One tool call and its result. Times are seconds; ``started_s`` counts from the cell's start."""

    name: str
    arguments: Any  # as the model sent them
    position: int  # the call's place in its turn (models may send index 0 for every call)
    turn: int  # the model turn that asked for it
    coerced: dict[str, Any] | None = None  # after validation, as the function received them
    result: str | None = None  # the text sent back to the model
    error: str | None = None
    status: Status = "pending"
    started_s: float = 0.0
    duration_s: float = 0.0

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


@dataclass
class Trace:
    """A cell's record. Iterating it gives the tool round-trips, in order."""

    model: str
    prompt: str = ""
    system: str = ""
    started_at: str = ""  # ISO 8601, wall clock
    turns: list[ModelTurn] = field(default_factory=list)
    rounds: list[ToolRound] = field(default_factory=list)

    def __iter__(self) -> Iterator[ToolRound]:
        return iter(self.rounds)

    def __len__(self) -> int:
        return len(self.rounds)

    def __getitem__(self, index: int) -> ToolRound:
        return self.rounds[index]

    @property
    def duration_s(self) -> float:
        ends = [t.started_s + t.duration_s for t in self.turns] + [
            r.started_s + r.duration_s for r in self.rounds
        ]
        return max(ends, default=0.0)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for turn, source in zip(data["turns"], self.turns, strict=True):
            turn["metrics"] = source.metrics.to_dict() if source.metrics else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trace:
        turns = [
            ModelTurn(**{**t, "metrics": Metrics.from_dict(t["metrics"]) if t.get("metrics") else None})
            for t in data.get("turns", [])
        ]
        rounds = [ToolRound(**r) for r in data.get("rounds", [])]
        scalars = {k: data.get(k, "") for k in ("model", "prompt", "system", "started_at")}
        return cls(**scalars, turns=turns, rounds=rounds)
