"""The interop tests' domain, written with the reference library (eventsourcing 9.5).

The classes live in a module called ``dogs`` so that their topics are ``dogs:Dog``,
``dogs:Dog.Registered``, ``dogs:Counter.Incremented``, ...: the topics the Rust side declares
with ``#[aggregate(module = "dogs")]`` (see ``tests/tests/python_interop.rs``).

``Dog`` has fields of every type the reference's JSON transcoder treats specially (UUID,
datetime, Decimal), as plain values, inside ``Optional`` and inside lists, next to strings and
lists of strings. Two events exist only here, for the tests of bad input: ``Vaccinated`` (a
topic the Rust side does not declare) and ``HomeSet``, whose ``Point`` is stored with a custom
transcoding named ``point``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import singledispatchmethod
from typing import Any, Dict, List, Optional
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import JSONTranscoder, Transcoding
from eventsourcing.system import ProcessApplication


@dataclass(frozen=True)
class Point:
    """A value type of the Python side only, stored with a custom transcoding."""

    x: int
    y: int


class PointAsList(Transcoding):
    """Stores a ``Point`` as ``{"_type_": "point", "_data_": [x, y]}``."""

    type = Point
    name = "point"

    def encode(self, obj: Point) -> List[int]:
        return [obj.x, obj.y]

    def decode(self, data: List[int]) -> Point:
        return Point(*data)


class Dog(Aggregate):
    @event("Registered")
    def __init__(
        self,
        name: str,
        owner: UUID,
        born: datetime,
        price: Decimal,
        chip: Optional[UUID] = None,
    ):
        self.name = name
        self.owner = owner
        self.born = born
        self.price = price
        self.chip = chip
        self.tricks: List[str] = []
        self.visits: List[datetime] = []
        self.next_due: Optional[datetime] = None
        self.fees: List[Decimal] = []

    @event("TrickAdded")
    def add_trick(self, trick: str) -> None:
        self.tricks.append(trick)

    @event("VetVisited")
    def visit_vet(
        self, on: datetime, next_due: Optional[datetime], fees: List[Decimal]
    ) -> None:
        self.visits.append(on)
        self.next_due = next_due
        self.fees.extend(fees)

    # Only on the Python side: a topic the Rust side does not know.
    @event("Vaccinated")
    def vaccinate(self, vaccine: str) -> None:
        pass

    # Declared on both sides, but its value has a transcoding only the Python side has.
    @event("HomeSet")
    def set_home(self, home: Point) -> None:
        pass


class Counter(Aggregate):
    """How many tricks a dog was taught (one counter per dog)."""

    def __init__(self, dog_id: UUID):
        self.dog_id = dog_id
        self.count = 0

    @staticmethod
    def create_id(dog_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"/counters/{dog_id}")

    @event("Incremented")
    def increment(self) -> None:
        self.count += 1


def register_point(transcoder: JSONTranscoder) -> None:
    transcoder.register(PointAsList())


class DogSchool(Application):
    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_point(transcoder)

    def register_dog(
        self,
        name: str,
        owner: UUID,
        born: datetime,
        price: Decimal,
        chip: Optional[UUID] = None,
    ) -> UUID:
        dog = Dog(name, owner, born, price, chip)
        self.save(dog)
        return dog.id

    def add_trick(self, dog_id: UUID, trick: str) -> None:
        dog: Dog = self.repository.get(dog_id)
        dog.add_trick(trick)
        self.save(dog)

    def visit_vet(
        self,
        dog_id: UUID,
        on: datetime,
        next_due: Optional[datetime],
        fees: List[Decimal],
    ) -> None:
        dog: Dog = self.repository.get(dog_id)
        dog.visit_vet(on, next_due, fees)
        self.save(dog)

    def vaccinate(self, dog_id: UUID, vaccine: str) -> None:
        dog: Dog = self.repository.get(dog_id)
        dog.vaccinate(vaccine)
        self.save(dog)

    def set_home(self, dog_id: UUID, home: Point) -> None:
        dog: Dog = self.repository.get(dog_id)
        dog.set_home(home)
        self.save(dog)

    def get_dog(self, dog_id: UUID) -> Dict[str, Any]:
        dog: Dog = self.repository.get(dog_id)
        return dog_as_json(dog)


class Counters(ProcessApplication):
    """Counts the tricks each dog of the DogSchool is taught."""

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_point(transcoder)

    @singledispatchmethod
    def policy(self, domain_event: Any, processing_event: Any) -> None:
        """Other events change nothing."""

    @policy.register(Dog.TrickAdded)
    def _(self, domain_event: Dog.TrickAdded, processing_event: Any) -> None:
        dog_id = domain_event.originator_id
        try:
            counter: Counter = self.repository.get(Counter.create_id(dog_id))
        except AggregateNotFoundError:
            counter = Counter(dog_id)
        counter.increment()
        processing_event.collect_events(counter)

    def get_count(self, dog_id: UUID) -> int:
        try:
            counter: Counter = self.repository.get(Counter.create_id(dog_id))
        except AggregateNotFoundError:
            return 0
        return counter.count


def iso(value: Optional[datetime]) -> Optional[str]:
    return None if value is None else value.isoformat()


def dog_as_json(dog: Dog) -> Dict[str, Any]:
    """A dog's state with every value as JSON text: UUIDs as str(), datetimes as isoformat(),
    decimals as str() (so that "12.50" stays "12.50"), and Python's own type names, so that the
    Rust side checks what the Python objects are, not only what they print as."""
    return {
        "id": str(dog.id),
        "version": dog.version,
        "created_on": iso(dog.created_on),
        "modified_on": iso(dog.modified_on),
        "name": dog.name,
        "owner": str(dog.owner),
        "born": iso(dog.born),
        "price": str(dog.price),
        "chip": None if dog.chip is None else str(dog.chip),
        "tricks": list(dog.tricks),
        "visits": [iso(v) for v in dog.visits],
        "next_due": iso(dog.next_due),
        "fees": [str(f) for f in dog.fees],
        "types": {
            "owner": type(dog.owner).__name__,
            "born": type(dog.born).__name__,
            "born_tz": str(dog.born.tzinfo),
            "price": type(dog.price).__name__,
            "chip": type(dog.chip).__name__,
            "visits": [type(v).__name__ for v in dog.visits],
            "next_due": type(dog.next_due).__name__,
            "fees": [type(f).__name__ for f in dog.fees],
            "created_on": type(dog.created_on).__name__,
        },
    }
