"""Command-line entry points the Rust interop tests call (tests/tests/python_interop.rs).

Each command builds the reference library's applications from the process environment, as any
Python service would (PERSISTENCE_MODULE, SQLITE_DBNAME or POSTGRES_*, CIPHER_TOPIC,
CIPHER_KEY, COMPRESSOR_TOPIC, IS_SNAPSHOTTING_ENABLED, with the usual DOGSCHOOL_ and COUNTERS_
prefixes), does one thing, and prints one JSON document on stdout. Errors go to stderr with a
non-zero exit status. INTEROP_DOGSCHOOL_NAME renames the DogSchool application.

    python interop.py register JSON            {"name", "owner", "born", "price", "chip"} -> {"id"}
    python interop.py add-trick ID TRICK
    python interop.py visit-vet ID JSON        {"on", "next_due", "fees"}
    python interop.py vaccinate ID VACCINE     an event of a topic only Python declares
    python interop.py set-home ID X Y          an event holding a custom transcoding ("point")
    python interop.py get ID [VERSION]         the dog, as dogs.dog_as_json
    python interop.py snapshot ID              DogSchool.take_snapshot(ID)
    python interop.py create-tables            constructs DogSchool and Counters (their tables)
    python interop.py follow ID...             Counters follows DogSchool's local log -> counts
    python interop.py counts ID...             Counters' counts, without processing
    python interop.py follow-http URL ID...    Counters follows a log served over HTTP by Rust
    python interop.py http-read URL            reads a Rust-served log with NotificationLogJSONClient
    python interop.py log-section SECTION_ID   NotificationLogJSONService.get_log_section
    python interop.py notifications START LIMIT [TOPICS_JSON]
                                               NotificationLogJSONService.get_notifications
    python interop.py subscribe AFTER COUNT TIMEOUT
                                               the reference's subscription (PostgreSQL: LISTEN),
                                               prints {"ready"}, then each notification
    python interop.py serve-http               serves NotificationLogJSONService over HTTP, in the
                                               Rust endpoint's routes; prints {"port"} and serves
                                               until stdin closes
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, List, Optional, Sequence
from uuid import UUID

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from eventsourcing.interface import (  # noqa: E402
    NotificationLogInterface,
    NotificationLogJSONClient,
    NotificationLogJSONService,
)

from dogs import Counters, DogSchool, Point  # noqa: E402


def out(value: Any) -> None:
    sys.stdout.write(json.dumps(value))
    sys.stdout.write("\n")
    sys.stdout.flush()


def parse_datetime(text: Optional[str]) -> Optional[datetime]:
    if text is None:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert value.tzinfo is not None, text
    return value


class HttpInterface(NotificationLogInterface):
    """The Rust endpoint's routes (eventsourcing::interface::http) as the reference's
    NotificationLogInterface: /sections/ID, and /notifications with the reference's own
    parameters of get_notifications (start, left out when None; limit; topics, comma-separated
    and each percent-encoded; inclusive_of_start)."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return response.read().decode("utf8")

    def get_log_section(self, section_id: str) -> str:
        return self.get("/sections/" + urllib.parse.quote(section_id, safe=","))

    def get_notifications(
        self,
        start: Optional[int],
        limit: int,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> str:
        params = [] if start is None else [f"start={start}"]
        params.append(f"limit={limit}")
        if not inclusive_of_start:
            params.append("inclusive_of_start=false")
        if topics:
            params.append("topics=" + ",".join(urllib.parse.quote(t, safe="") for t in topics))
        return self.get("/notifications?" + "&".join(params))


def jsonable(value: Any) -> Any:
    """A decoded value as JSON: UUIDs and decimals as str(), datetimes as isoformat()."""
    if isinstance(value, (UUID, Decimal)):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def counts(counters: Counters, ids: List[str]) -> dict:
    return {i: counters.get_count(UUID(i)) for i in ids}


def main(argv: List[str]) -> None:
    # Another name for the DogSchool (so other tables, and another NOTIFY channel).
    if os.environ.get("INTEROP_DOGSCHOOL_NAME"):
        DogSchool.name = os.environ["INTEROP_DOGSCHOOL_NAME"]
    command, args = argv[0], argv[1:]
    if command == "register":
        data = json.loads(args[0])
        app = DogSchool()
        dog_id = app.register_dog(
            name=data["name"],
            owner=UUID(data["owner"]),
            born=parse_datetime(data["born"]),
            price=Decimal(data["price"]),
            chip=None if data.get("chip") is None else UUID(data["chip"]),
        )
        out({"id": str(dog_id)})
    elif command == "add-trick":
        DogSchool().add_trick(UUID(args[0]), args[1])
        out({"ok": True, "saved_at": time.time()})
    elif command == "visit-vet":
        data = json.loads(args[1])
        DogSchool().visit_vet(
            UUID(args[0]),
            on=parse_datetime(data["on"]),
            next_due=parse_datetime(data.get("next_due")),
            fees=[Decimal(f) for f in data["fees"]],
        )
        out({"ok": True})
    elif command == "vaccinate":
        DogSchool().vaccinate(UUID(args[0]), args[1])
        out({"ok": True})
    elif command == "set-home":
        DogSchool().set_home(UUID(args[0]), Point(int(args[1]), int(args[2])))
        out({"ok": True})
    elif command == "get":
        app = DogSchool()
        version = int(args[1]) if len(args) > 1 else None
        dog = app.repository.get(UUID(args[0]), version=version)
        from dogs import dog_as_json

        out(dog_as_json(dog))
    elif command == "create-tables":
        DogSchool()
        Counters()
        out({"ok": True})
    elif command == "snapshot":
        DogSchool().take_snapshot(UUID(args[0]))
        out({"ok": True})
    elif command == "follow":
        leader = DogSchool()
        counters = Counters()
        counters.follow(leader.name, leader.notification_log)
        counters.pull_and_process(leader.name)
        out(
            {
                "position": counters.recorder.max_tracking_id(leader.name),
                "counts": counts(counters, args),
            }
        )
    elif command == "counts":
        counters = Counters()
        out(
            {
                "position": counters.recorder.max_tracking_id(DogSchool.name),
                "counts": counts(counters, args),
            }
        )
    elif command == "follow-http":
        counters = Counters()
        counters.follow(DogSchool.name, NotificationLogJSONClient(HttpInterface(args[0])))
        counters.pull_and_process(DogSchool.name)
        out(
            {
                "position": counters.recorder.max_tracking_id(DogSchool.name),
                "counts": counts(counters, args[1:]),
            }
        )
    elif command == "http-read":
        # Reads the whole log through the reference's client (sections, then select), and
        # decodes every notification with the reference's mapper.
        client = NotificationLogJSONClient(HttpInterface(args[0]))
        app = DogSchool()
        sections = []
        section_id: Optional[str] = "1,5"
        while section_id is not None:
            section = client[section_id]
            sections.append(
                {"id": section.id, "next_id": section.next_id, "ids": [n.id for n in section.items]}
            )
            section_id = section.next_id
        # As the reference's readers do: after a position, a page of at most 10 (the section
        # size of both libraries) at a time.
        selected = []
        position = None
        while True:
            page = client.select(start=position, limit=10, inclusive_of_start=False)
            selected.extend(page)
            if len(page) < 10:
                break
            position = page[-1].id
        events = []
        for notification in selected:
            domain_event = app.mapper.to_domain_event(notification)
            state = {
                k: jsonable(v)
                for k, v in domain_event.__dict__.items()
                if k not in ("originator_id", "originator_version", "timestamp")
            }
            events.append(
                {
                    "id": notification.id,
                    "originator_id": str(notification.originator_id),
                    "originator_version": notification.originator_version,
                    "topic": notification.topic,
                    "class": type(domain_event).__qualname__,
                    "state": state,
                }
            )
        topics = [n.id for n in client.select(start=1, limit=10, topics=["dogs:Dog.TrickAdded"])]
        out({"sections": sections, "events": events, "trick_ids": topics})
    elif command == "log-section":
        sys.stdout.write(NotificationLogJSONService(DogSchool()).get_log_section(args[0]))
        sys.stdout.write("\n")
    elif command == "notifications":
        topics = json.loads(args[2]) if len(args) > 2 else []
        service = NotificationLogJSONService(DogSchool())
        sys.stdout.write(service.get_notifications(int(args[0]), int(args[1]), topics))
        sys.stdout.write("\n")
    elif command == "subscribe":
        subscribe(DogSchool(), int(args[0]), int(args[1]), float(args[2]))
    elif command == "serve-http":
        serve_http(NotificationLogJSONService(DogSchool()))
    else:
        raise SystemExit(f"unknown command {command!r}")


def subscribe(app: DogSchool, after: int, count: int, timeout: float) -> None:
    """Subscribes to the application's recorder after `after` (PostgreSQL: woken only by
    NOTIFY on the events table's channel), prints {"ready": true} once it listens, then each
    notification as it arrives, until `count` have arrived (exit 0) or `timeout` seconds have
    passed (exit 1)."""
    received: List[int] = []
    with app.recorder.subscribe(gt=after) as subscription:
        timer = threading.Timer(timeout, subscription.stop)
        timer.start()
        time.sleep(1.0)  # its LISTEN is on by now; what it pulls from now on, it was woken for
        out({"ready": True})
        for notification in subscription:
            received.append(notification.id)
            out({"id": notification.id, "topic": notification.topic})
            if len(received) >= count:
                break
        timer.cancel()
    out({"received": received})
    if len(received) < count:
        sys.exit(1)


def serve_http(service: NotificationLogJSONService) -> None:
    """The reference's JSON service behind the Rust endpoint's two routes."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            parsed = urllib.parse.urlsplit(self.path)
            try:
                if parsed.path == "/notifications":
                    query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
                    topics = [
                        urllib.parse.unquote(t) for t in query.get("topics", "").split(",") if t
                    ]
                    start = query.get("start")
                    body = service.get_notifications(
                        None if start in (None, "") else int(start),
                        int(query["limit"]),
                        topics,
                        inclusive_of_start=query.get("inclusive_of_start", "true").lower()
                        not in ("false", "0"),
                    )
                elif parsed.path.startswith("/sections/"):
                    body = service.get_log_section(
                        urllib.parse.unquote(parsed.path[len("/sections/"):])
                    )
                else:
                    self.send_error(404)
                    return
                status = 200
            except Exception as e:  # noqa: BLE001
                body, status = json.dumps({"error": str(e)}), 400
            data = body.encode("utf8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out({"port": server.server_address[1]})
    sys.stdin.read()  # until the parent closes our stdin
    server.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
