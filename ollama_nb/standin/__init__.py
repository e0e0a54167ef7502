"""A stand-in Ollama server for tests, tutorials and demos with no Ollama installed."""

from .demo import DemoResponder
from .script import DEFAULT_MODELS, Model, Turn
from .server import LoggedRequest, StandInServer

__all__ = ["DEFAULT_MODELS", "DemoResponder", "LoggedRequest", "Model", "StandInServer", "Turn"]
