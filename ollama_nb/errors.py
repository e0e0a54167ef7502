"""Every failure a user can meet, in one place: one short message that says what to do.

IPython shows only the message of these (``_render_traceback_``), never a traceback wall. A
failure that happens after the model started answering carries the partial reply as ``.reply``,
so nothing already received is lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .reply import Reply


class OllamaNbError(Exception):
    """A failure the user can act on; ``reply`` holds what arrived before it, if anything."""

    reply: Reply | None = None

    def __init__(self, message: str, *, reply: Reply | None = None) -> None:
        super().__init__(message)
        self.reply = reply

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {self}"]


class ServerUnreachable(OllamaNbError):
    """Nothing answered at the host (not running, wrong address, a proxy in the way)."""


class ModelNotFound(OllamaNbError):
    """The server has no model of that name."""


class ServerError(OllamaNbError):
    """The server refused the request or failed while answering."""


class AuthError(ServerError):
    """The server wants credentials (ollama.com, a signed-in server)."""


class ContextFull(ServerError):
    """The prompt does not fit in the context and the server was asked not to cut it."""


class Unsupported(OllamaNbError):
    """The server cannot do what was asked (an older version, the stand-in): says which."""


class StreamBroken(OllamaNbError):
    """The answer stopped half way (an error line, a dropped connection, a silent server)."""


class NotOllama(StreamBroken):
    """Something answered that does not speak Ollama's protocol (an HTML page, a bad chunk)."""


class CapabilityError(OllamaNbError):
    """The model says it cannot do what was asked (tools, thinking, images): ``missing`` names it."""

    def __init__(self, message: str, *, model: str = "", missing: tuple[str, ...] = (),
                 reply: Reply | None = None) -> None:  # fmt: skip
        super().__init__(message, reply=reply)
        self.model, self.missing = model, missing


class FormatError(OllamaNbError):
    """A structured answer did not parse; the raw text stays in ``.reply.content``."""


class RecordError(OllamaNbError, ValueError):
    """A saved reply, conversation or notebook could not be read: names the file and the problem."""


class ConfirmUnavailable(OllamaNbError):
    """``--confirm`` where nobody can answer (no stdin): the tool is not run, the cell ends."""


class SchemaError(OllamaNbError, TypeError):
    """A function cannot be offered as a tool; lists every problem at once."""


class ArgumentError(OllamaNbError, ValueError):
    """Arguments from the model that do not fit the tool's signature."""


class PromptError(OllamaNbError, LookupError):
    """A ``{{name}}`` in a prompt that cannot be filled in."""


class InputError(OllamaNbError, ValueError):
    """Something the user gave cannot be sent (an image that is not there, a setting of the
    wrong type); says which and what to give instead."""


class OptionError(InputError):
    """A model option that is malformed or of the wrong type.

    ``key``, ``expected`` and ``value`` say which; each front phrases the fix in its own terms
    (the magic ``-o num_ctx=8192``, ``chat()`` ``options={"num_ctx": 8192}``)."""

    def __init__(self, message: str, *, key: str = "", expected: str = "", value: object = None,
                 reply: Reply | None = None) -> None:  # fmt: skip
        super().__init__(message, reply=reply)
        self.key, self.expected, self.value = key, expected, value


class Interrupted(KeyboardInterrupt):
    """The user interrupted the kernel (or pressed Stop); the partial answer is kept.

    A ``KeyboardInterrupt``, so that it stops a "Run all" as an interrupt always does.
    """

    def __init__(self, message: str, *, reply: Reply | None = None) -> None:
        super().__init__(message)
        self.reply = reply

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[33mInterrupted\x1b[0m: {self}"]


class ConversationBusy(OllamaNbError):
    """A turn asked of a conversation from inside its own unfinished turn (a tool's cell)."""


class ServerBusy(ServerError):
    """The server stayed busy (503, 429, a proxy's 502/504) through the retries, or kept the
    request queued longer than ``queue_timeout``; nothing of the answer had arrived."""


class SharedServer(OllamaNbError):
    """With ``shared=true``: the cell would change the server for everyone (reload its model,
    pull, create or remove one), so it was not sent; ``--force`` sends it."""
