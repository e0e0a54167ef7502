"""Everything that shapes a request, in one frozen, typed object.

The magic, ``chat()``, ``compare()`` and the chat box all build a :class:`Settings`; ``defaults``
holds the one a cell starts from (``%ollama config``, ``%ollama use``); a cell's own values are
``defaults.merge(...)``; a comparison's variant is ``settings.replace(model=...)``. Each value is
checked and normalised once, here, where it enters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .errors import InputError, OptionError
from .options import check, keep_alive
from .retry import DEFAULT_MAX_WAIT, DEFAULT_RETRIES

THINK_LEVELS = ("low", "medium", "high", "max")
Think = bool | Literal["low", "medium", "high", "max"] | None
DEFAULT_MAX_ROUNDS = 10
DEFAULT_MAX_RESULT_CHARS = 20_000
DEFAULT_MCP_TIMEOUT = 60.0


class Settings(BaseModel):
    """One request's settings; unset (None) values are left to the server or the defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    # -- model and server
    model: str | None = None
    host: str | None = None
    api_key: str | None = Field(
        default=None, repr=False
    )  # sent to any host; else OLLAMA_API_KEY to ollama.com
    keep_alive: str | float | None = None  # "5m", seconds, 0 unloads, -1 keeps
    timeout: float | None = Field(default=None, gt=0)  # seconds of silence before a stream is given up
    # -- a server shared by a class
    queue_timeout: float | None = Field(default=None, gt=0)  # seconds before the first byte (queued)
    retries: int = Field(default=DEFAULT_RETRIES, ge=0)  # busy answers (503, 429, 502, 504) asked again
    retry_max_wait: float = Field(default=DEFAULT_MAX_WAIT, ge=0)  # seconds of waiting between them, in all
    shared: bool = False  # refuse what changes the server for everyone (a reload) unless forced
    force: bool = False  # a cell's --force: send it even so
    # -- what is asked
    system: str | None = None
    think: Think = None
    options: Mapping[str, Any] = Field(default_factory=dict)
    format: str | dict[str, Any] | type[BaseModel] | None = None
    images: tuple[Any, ...] = ()
    stream: bool = True
    truncate: bool | None = None
    shift: bool | None = None
    strict_context: bool = False  # truncate and shift False: the server refuses instead of cutting
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    extra: Mapping[str, Any] = Field(default_factory=dict)  # any other request field, sent as given
    # the notebook's cells ahead of the prompt: True (as many as fit a quarter of the context), N
    # (the last N), "fix" (the last failing cell and the cells it depends on); None or False: none
    notebook: bool | Annotated[int, Field(ge=1)] | Literal["fix"] | None = None
    # -- tools
    tools: tuple[Any, ...] = ()  # callables (or names a front resolved)
    max_rounds: int = Field(default=DEFAULT_MAX_ROUNDS, ge=1)
    max_result_chars: int = Field(default=DEFAULT_MAX_RESULT_CHARS, ge=1)
    confirm: Callable[..., bool] | None = Field(default=None, repr=False)
    mcp_timeout: float = Field(
        default=DEFAULT_MCP_TIMEOUT, gt=0
    )  # seconds an MCP server may take to start or answer
    # -- what is shown
    render: bool = False  # also ask the server for the prompt as the model reads it

    @field_validator("keep_alive", mode="before")
    @classmethod
    def _keep_alive(cls, value: Any) -> Any:
        return keep_alive(value)

    @field_validator("options", mode="before")
    @classmethod
    def _options(cls, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ValueError("options take a dict, e.g. {'num_ctx': 8192}")
        return {str(k): check(str(k), v) for k, v in value.items()}

    @field_validator("tools", "images", mode="before")
    @classmethod
    def _sequence(cls, value: Any) -> tuple[Any, ...]:
        if value is None:
            return ()
        if callable(value) or isinstance(value, (str, bytes)):
            return (value,)
        return tuple(value)

    @field_validator("notebook", mode="before")
    @classmethod
    def _notebook(cls, value: Any) -> Any:
        text = value.strip().lower() if isinstance(value, str) else None
        if text is not None and text.isdigit():
            value = int(text)  # "1" is one cell, not True
        elif text in ("true", "false", "fix"):
            value = {"true": True, "false": False}.get(text, text)
        if (
            value is None
            or isinstance(value, bool)
            or value == "fix"
            or (isinstance(value, int) and value >= 1)
        ):
            return value
        raise ValueError("notebook takes True (the cells that fit), a number of cells N, 'fix' or False")

    @field_validator("think", mode="before")
    @classmethod
    def _think(cls, value: Any) -> Any:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return value

    # -- combining -----------------------------------------------------------------------------
    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes``, validated as any new value is."""
        return make(**{**dict(self), **changes})

    def merge(self, **changes: Any) -> Settings:
        """These settings with a cell's own: values given (not None) win, options add up."""
        given = {k: v for k, v in changes.items() if v is not None}
        if "options" in given:
            given["options"] = {**self.options, **given["options"]}
        if "extra" in given:
            given["extra"] = {**self.extra, **given["extra"]}
        return self.replace(**given)

    def body_fields(self) -> dict[str, Any]:
        """The request fields beyond model, messages, tools and format, unset ones left out."""
        truncate, shift = self.truncate, self.shift
        if self.strict_context:
            truncate = False if truncate is None else truncate
            shift = False if shift is None else shift
        fields = {"think": self.think, "options": dict(self.options) or None, "keep_alive": self.keep_alive,
                  "truncate": truncate, "shift": shift, "logprobs": True if self.logprobs or self.top_logprobs
                  else self.logprobs, "top_logprobs": self.top_logprobs, **self.extra}  # fmt: skip
        return {k: v for k, v in fields.items() if v is not None}


def make(**values: Any) -> Settings:
    """``Settings(**values)``, a wrong value refused in one line naming the setting."""
    try:
        return Settings(**values)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        cause = first.get("ctx", {}).get("error")
        if isinstance(
            cause, OptionError
        ):  # pydantic wraps a validator's error: the option's own, with its fields
            raise cause from None
        name = ".".join(str(p) for p in first["loc"]) or "settings"
        given = values.get(str(first["loc"][0])) if first["loc"] else None
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            raise InputError(
                f"{name!r} is not a setting (settings: {', '.join(Settings.model_fields)})"
            ) from None
        raise InputError(f"setting {name}={given!r}: {message}") from None


CONFIGURABLE = ("model", "host", "api_key", "keep_alive", "timeout", "max_rounds", "max_result_chars",
                "strict_context", "system", "think", "queue_timeout", "retries", "retry_max_wait",
                "shared", "mcp_timeout", "notebook")  # fmt: skip


def parse_setting(name: str, text: str) -> Any:
    """A ``%ollama config name=text`` value, typed by the field (``none`` or nothing: unset)."""
    if text.strip().lower() in ("", "none", "null"):
        return None
    if name in ("timeout", "queue_timeout") and text.strip() == "0":
        return None
    return text


class Defaults:
    """The settings a cell starts from. Reading an attribute reads the current :class:`Settings`;
    assigning one (``defaults.model = "llama3.2"``) validates it and replaces them."""

    settings: Settings

    def __init__(self) -> None:
        object.__setattr__(self, "settings", Settings())

    def __getattr__(self, name: str) -> Any:
        return getattr(object.__getattribute__(self, "settings"), name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "settings":
            if not isinstance(value, Settings):
                raise TypeError("defaults.settings takes a Settings")
            object.__setattr__(self, name, value)
            return
        object.__setattr__(self, "settings", self.settings.replace(**{name: value}))

    def __repr__(self) -> str:
        return f"defaults({self.settings!r})"


defaults = Defaults()
