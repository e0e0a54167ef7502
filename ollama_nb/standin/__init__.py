"""A stand-in Ollama server for tests, tutorials and demos with no Ollama installed."""

from .cassette import Cassette, Exchange, Recorder
from .demo import DemoResponder
from .script import DEFAULT_MODELS, Model, Turn
from .server import LoggedRequest, StandInServer

__all__ = [
    "DEFAULT_MODELS",
    "Cassette",
    "DemoResponder",
    "Exchange",
    "LoggedRequest",
    "Model",
    "Recorder",
    "StandInServer",
    "Turn",
]
