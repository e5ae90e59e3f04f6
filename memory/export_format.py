"""The JSON export format (EXPORT_FORMAT) as pydantic models: what an import accepts.

Every field is checked strictly (no "1" for 1, no number for a text), with the store's own
rules for ids, labels and content, and times that a chat could really have: ISO-8601 with a
time zone, not before 1970 and not later than the import itself. A file that breaks a rule is
refused whole, with one sentence naming the first bad field; nothing is clamped, so what is
imported is exactly what the file says."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from memory.errors import InvalidContent, InvalidId
from memory.validation import (
    MAX_ABILITY_CHARS,
    MAX_TITLE_CHARS,
    check_content,
    check_id,
    check_label,
)

EXPORT_FORMAT = "isolated-chat/1"
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
# Turn numbers go into a 32-bit column and grow by one per question after the import.
MAX_TURN = 2**30


def _time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO-8601 time string, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value[:40]!r} is not an ISO-8601 time") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value[:40]!r} has no time zone (exports are in UTC)")
    try:
        moment = parsed.astimezone(UTC)
    except OverflowError:  # year 1 east of UTC, or year 9999 west of it
        moment = EARLIEST.replace(year=1) if parsed.year < EARLIEST.year else datetime.max
        moment = moment.replace(tzinfo=UTC)
    if moment < EARLIEST:
        raise ValueError(f"{value[:40]!r} is before 1970")
    # A time after the import would keep the chat from retention and first in the sidebar.
    if moment > datetime.now(UTC):
        raise ValueError(f"{value[:40]!r} is in the future")
    return moment


def _checked(check, *args: Any):
    def validate(value: object) -> Any:
        try:
            return check(value, *args)
        except (InvalidContent, InvalidId) as error:
            raise ValueError(str(error)) from None

    return BeforeValidator(validate)


Time = Annotated[datetime, BeforeValidator(_time)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class ExportedMessage(_Strict):
    turn: int = Field(ge=0, le=MAX_TURN)
    role: Literal["human", "ai", "system"]
    content: Annotated[str, _checked(check_content)]
    status: Literal["complete", "interrupted"]
    created_at: Time
    # Added with branches and versions (migration 0009): the message's number in its chat's
    # list (from 1), the number of the message it follows (None for the first), and whether
    # it is the version shown among its siblings. A file written before then has none of
    # them: each message follows the one before it, and every one is shown.
    number: int | None = Field(default=None, ge=1)
    parent: int | None = Field(default=None, ge=1)
    selected: bool = True


class ExportedSession(_Strict):
    session_id: Annotated[str, _checked(check_id, "session_id")]
    title: Annotated[str, _checked(check_label, "title", MAX_TITLE_CHARS)]
    ability: Annotated[str, _checked(check_label, "ability", MAX_ABILITY_CHARS)]
    created_at: Time
    updated_at: Time
    # Added with pin and archive (migration 0008); a file written before then has neither, and
    # its titles are kept as they are (never replaced by the model's).
    pinned: bool = False
    archived: bool = False
    title_source: Literal["question", "model", "user"] = "user"
    messages: list[ExportedMessage]

    @model_validator(mode="after")
    def _in_one_place(self) -> ExportedSession:
        if self.pinned and self.archived:
            raise ValueError("a chat is pinned or archived, not both")
        return self

    @model_validator(mode="after")
    def _one_tree(self) -> ExportedSession:
        numbered = [message.number is not None for message in self.messages]
        if any(numbered) and not all(numbered):
            raise ValueError("some messages have a number and others not")
        if not any(numbered):
            return self
        shown: dict[tuple[int | None, int, str], int] = {}
        turns: dict[int, int] = {}
        for place, message in enumerate(self.messages, start=1):
            if message.number != place:
                raise ValueError(f"message {place} is numbered {message.number}")
            if message.parent is not None:
                # Earlier in the list, so the messages form a tree without a cycle.
                if message.parent >= place:
                    raise ValueError(f"message {place} follows a message after it")
                if turns[message.parent] > message.turn:
                    raise ValueError(f"message {place} follows a message of a later turn")
            turns[place] = message.turn
            key = (message.parent, message.turn, message.role)
            shown[key] = shown.get(key, 0) + message.selected
        if any(count != 1 for count in shown.values()):
            raise ValueError("each message's versions must have exactly one selected")
        return self


class Export(_Strict):
    format: Literal["isolated-chat/1"]
    sessions: list[ExportedSession]


def _place(location: tuple[int | str, ...]) -> str:
    place = ""
    for part in location:
        place += f"[{part}]" if isinstance(part, int) else (f".{part}" if place else part)
    return place or "the file"


def parse_export(data: object) -> Export:
    """The export in `data` (parsed JSON), or InvalidContent naming its first bad field."""
    if not isinstance(data, dict):
        raise InvalidContent(
            f"the file is not an export: it holds a JSON {type(data).__name__}, not an object"
        )
    if data.get("format") != EXPORT_FORMAT:
        raise InvalidContent(f"not an {EXPORT_FORMAT} export: its format is {data.get('format')!r}")
    try:
        return Export.model_validate(data)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "missing":
            message = "the field is missing"
        raise InvalidContent(f"{_place(first['loc'])}: {message}") from None
