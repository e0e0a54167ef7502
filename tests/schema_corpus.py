"""Real-world tool signatures, as people write them in notebooks, for the schema tests and for
``scripts/compare_schemas.py`` (ours against the official client's ``convert_function_to_tool``).
"""

import datetime as dt
from dataclasses import dataclass
from enum import Enum, IntEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, TypedDict, Union

from pydantic import BaseModel, Field


class Unit(Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Priority(IntEnum):
    LOW = 1
    HIGH = 2


class Address(TypedDict):
    street: str
    city: str


@dataclass
class Point:
    x: float
    y: float = 0.0


class Person(BaseModel):
    name: str = Field(description="Full name")
    age: int | None = None


def add_two_numbers(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first number
        b: The second number

    Returns:
        int: The sum of a and b
    """
    return a + b


def get_current_weather(city: str, format: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """Get the current weather for a city.

    Args:
        city: The name of the city
        format: The unit of temperature
    """
    return ""


def search_web(query: str, max_results: int = 5) -> list[str]:
    """Search the web.

    Parameters
    ----------
    query : str
        What to look for.
    max_results : int
        How many results to return.
    """
    return []


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """Read a text file.

    :param path: The file to read.
    :param encoding: Its text encoding.
    """
    return ""


def mean(values: list[float]) -> float:
    """The arithmetic mean of some numbers."""
    return 0.0


def tag_items(tags: set[str]) -> None:
    """Tag the selection."""


def distance(origin: tuple[float, float], target: tuple[float, float]) -> float:
    """Distance between two points."""
    return 0.0


def count_words(counts: dict[str, int]) -> int:
    """Total of a word count."""
    return 0


def greet(name: Optional[str] = None) -> str:
    """Say hello, to someone or to the world."""
    return ""


def lookup(key: Union[int, str]) -> str:
    """Look a record up by id or by name."""
    return ""


def convert_temperature(value: float, unit: Unit) -> float:
    """Convert a temperature to another unit.

    Args:
        value: The temperature.
        unit: The unit to convert to.
    """
    return 0.0


def ship_to(address: Address) -> str:
    """Ship the order to an address."""
    return ""


def plot_point(point: Point) -> None:
    """Plot one point."""


def register(person: Person) -> int:
    """Register a person."""
    return 0


def sleep_for(seconds: Annotated[int, Field(description="How long to sleep", ge=0)]) -> None:
    """Sleep a while."""


def events_after(start: dt.datetime) -> list[str]:
    """Events after a moment."""
    return []


def holidays_in(day: dt.date) -> bool:
    """Is it a holiday?"""
    return False


def echo(message) -> str:
    """Echo the message back."""
    return ""


def log_values(label: str, *values: float, **extra: Any) -> None:
    """Log some values with a label."""


async def fetch_price(symbol: str) -> float:
    """Fetch the latest price of a stock.

    Args:
        symbol: The ticker symbol, e.g. AAPL.
    """
    return 0.0


def list_files(folder: str, recursive: bool = False) -> list[str]:
    """List the files in a folder.

    Args:
        folder: Where to look.
        recursive: Whether to look in subfolders too.
    """
    return []


def choose(options: list[Literal["red", "green", "blue"]]) -> str:
    """Choose among colours."""
    return ""


def transpose(matrix: list[list[int]]) -> list[list[int]]:
    """Transpose a matrix."""
    return []


def filter_names(names: Optional[list[str]] = None) -> list[str]:
    """Keep the names that look real."""
    return []


def book_flight(origin: str, destination: str, *, passengers: int = 1, day: dt.date | None = None) -> str:
    """Book a flight.

    Args:
        origin: Airport code to leave from.
        destination: Airport code to go to.
        passengers: How many people travel.
        day: The day to fly, if known.
    """
    return ""


def power(base: float, exponent: float = 2.0, /) -> float:
    """Raise a number to a power."""
    return 0.0


def centroid(points: list[Point]) -> Point:
    """The centre of some points."""
    return Point(0, 0)


def set_priority(task_id: int, priority: Priority) -> None:
    """Set the priority of a task.

    Args:
        task_id: The task.
        priority: Its new priority.
    """


def roll_dice(sides: Literal[4, 6, 8, 20] = 6) -> int:
    """Roll one die."""
    return 0


def now() -> str:
    """The current time, ISO 8601."""
    return ""


def translate(text: str, target_language: str = "en", formal: bool | None = None) -> str:
    """Translate text.

    Translates with the best available engine.

    Args:
        text: What to translate.
        target_language: An ISO 639-1 code.
        formal: Use the formal register, where the language has one.
    """
    return ""


CORPUS = [
    add_two_numbers, get_current_weather, search_web, read_text, mean, tag_items, distance,
    count_words, greet, lookup, convert_temperature, ship_to, plot_point, register, sleep_for,
    events_after, holidays_in, echo, log_values, fetch_price, list_files, choose, transpose,
    filter_names, book_flight, power, centroid, set_priority, roll_dice, now, translate,
]  # fmt: skip
