"""Branches and versions of a chat: which messages are shown, and their other versions.

A chat is a tree (migration 0009). Each message names its parent, the message it follows.
Messages with the same parent, turn and role are versions of one another: editing a question
adds a human sibling, Retry adds an ai sibling. Among siblings one is `selected`; the active
path runs from the first message down through selected children, and its messages carry
`on_path`. Every read of a chat reads the path alone, from the order index's on_path range.

Choosing a version (`choose_version`) changes `selected` for it and for any of its ancestors
that were off the path, then rewrites `on_path` below the highest message that changed. Only
rows from that message's turn on are read: a choice costs the branches below it, not the chat.

Every function here takes the chat's (user_id, session_id) and carries both in every query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, and_, false, select, true, update

from memory.errors import MessageNotFound
from memory.models import ChatMessage

_messages = ChatMessage.__table__
# Rows are flipped in batches: one UPDATE per batch keeps each statement's IN list modest.
_FLIP_BATCH = 500


@dataclass(frozen=True)
class Versions:
    """Where a message stands among its versions: number (from 1) of count, and the ids of
    the versions before and after it, oldest first."""

    number: int
    count: int
    previous_id: int | None
    next_id: int | None


@dataclass(frozen=True)
class _Node:
    id: int
    parent_id: int | None
    turn: int
    role: str
    selected: bool
    on_path: bool


_NODE_COLUMNS = (
    _messages.c.id,
    _messages.c.parent_id,
    _messages.c.turn,
    _messages.c.role,
    _messages.c.selected,
    _messages.c.on_path,
)


def _pair(user_id: str, session_id: str):
    return and_(_messages.c.user_id == user_id, _messages.c.session_id == session_id)


def _node(conn: Connection, user_id: str, session_id: str, message_id: int) -> _Node | None:
    row = conn.execute(
        select(*_NODE_COLUMNS).where(_pair(user_id, session_id), _messages.c.id == message_id)
    ).first()
    return _Node(*row) if row else None


def _siblings_key(node: _Node) -> tuple[int | None, int, str]:
    return node.parent_id, node.turn, node.role


def _rows_from(conn: Connection, user_id: str, session_id: str, turn: int) -> list[_Node]:
    """Every message of the chat from `turn` on: two ranges of the order index."""
    nodes: list[_Node] = []
    for on_path in (True, False):
        rows = conn.execute(
            select(*_NODE_COLUMNS).where(
                _pair(user_id, session_id),
                _messages.c.on_path == on_path,
                _messages.c.turn >= turn,
            )
        )
        nodes.extend(_Node(*row) for row in rows)
    return nodes


def choose_version(conn: Connection, user_id: str, session_id: str, message_id: int) -> int:
    """Make the message (any message of the chat) part of the active path: select it and
    every ancestor of it off the path, and put on the path the selected messages below them.
    Returns the turn the path now ends at. Raises MessageNotFound if the chat has no such
    message. Call inside a write transaction that holds the chat's row lock."""
    chosen = _node(conn, user_id, session_id, message_id)
    if chosen is None:
        raise MessageNotFound("this chat has no such message")
    # Up from the chosen message to the first ancestor on the path (the anchor), or the root.
    climb = [chosen]
    anchor: _Node | None = None
    while True:
        top = climb[-1]
        if top.parent_id is None:
            break
        parent = _node(conn, user_id, session_id, top.parent_id)
        if parent is None:
            break
        if parent.on_path:
            anchor = parent
            break
        climb.append(parent)
    top = climb[-1]
    nodes = {node.id: node for node in _rows_from(conn, user_id, session_id, top.turn)}
    selected = {node.id for node in nodes.values() if node.selected}
    for node in climb:
        for other in nodes.values():
            if other.id != node.id and _siblings_key(other) == _siblings_key(node):
                selected.discard(other.id)
        selected.add(node.id)
    path = _path_below(nodes.values(), anchor, top, selected)
    _flip(conn, "selected", {n.id: n.selected for n in nodes.values()}, selected)
    _flip(conn, "on_path", {n.id: n.on_path for n in nodes.values()}, path)
    ends = [nodes[i].turn for i in path if i in nodes]
    return max(ends) if ends else (anchor.turn if anchor else 0)


def _path_below(
    nodes: Iterable[_Node], anchor: _Node | None, top: _Node, selected: set[int]
) -> set[int]:
    """Ids of the active path among `nodes`: the anchor (if among them) and every message
    reached from it through selected children; with no anchor, from the selected versions
    of `top`, the chat's first message."""
    children: dict[int | None, list[_Node]] = {}
    known: set[int] = set()
    for node in nodes:
        known.add(node.id)
        children.setdefault(node.parent_id, []).append(node)
    start = anchor.id if anchor else top.parent_id
    path: set[int] = {start} if start is not None and start in known else set()
    frontier = [n for n in children.get(start, []) if n.id in selected]
    while frontier:
        node = frontier.pop()
        if node.id in path:
            continue
        path.add(node.id)
        frontier.extend(n for n in children.get(node.id, []) if n.id in selected)
    return path


def _flip(conn: Connection, column: str, now: dict[int, bool], wanted: set[int]) -> None:
    """Write `column` true for the ids in `wanted` and false for the others, where it differs."""
    for value in (True, False):
        ids = sorted(i for i, current in now.items() if (i in wanted) == value and current != value)
        for start in range(0, len(ids), _FLIP_BATCH):
            conn.execute(
                update(_messages)
                .where(_messages.c.id.in_(ids[start : start + _FLIP_BATCH]))
                .values({column: value})
            )


def leave_path_from(conn: Connection, user_id: str, session_id: str, turn: int) -> None:
    """Take every message of the path from `turn` on off it (they stay, selected where they
    were): one range of the order index. Everything on the path from a turn on descends from
    that turn's question, so this hides exactly that question's part of the path."""
    conn.execute(
        update(_messages)
        .where(
            _pair(user_id, session_id),
            _messages.c.on_path == true(),
            _messages.c.turn >= turn,
        )
        .values(on_path=False)
    )


def followed_on_path(
    conn: Connection, user_id: str, session_id: str, message: int, turn: int
) -> bool:
    """Whether a message of the path after `turn` follows `message` (of that turn)."""
    return (
        conn.scalar(
            select(_messages.c.id)
            .where(
                _pair(user_id, session_id),
                _messages.c.on_path == true(),
                _messages.c.turn > turn,
                _messages.c.parent_id == message,
            )
            .limit(1)
        )
        is not None
    )


def versions_of(
    conn: Connection,
    user_id: str,
    session_id: str,
    shown: Sequence[tuple[int, int | None, int, str]],
) -> dict[int, Versions]:
    """For messages on the path, given as (id, parent_id, turn, role), where each stands
    among its versions; only those with other versions are in the result. One range of the
    order index: the off-path messages of the turns shown."""
    if not shown:
        return {}
    turns = [turn for _id, _parent, turn, _role in shown]
    others: dict[tuple[int | None, int, str], list[int]] = {}
    rows = conn.execute(
        select(_messages.c.id, _messages.c.parent_id, _messages.c.turn, _messages.c.role).where(
            _pair(user_id, session_id),
            _messages.c.on_path == false(),
            _messages.c.turn >= min(turns),
            _messages.c.turn <= max(turns),
        )
    )
    for row_id, parent_id, turn, role in rows:
        others.setdefault((parent_id, turn, role), []).append(row_id)
    found: dict[int, Versions] = {}
    for message_id, parent_id, turn, role in shown:
        siblings = others.get((parent_id, turn, role))
        if not siblings:
            continue
        ordered = sorted([message_id, *siblings])
        at = ordered.index(message_id)
        found[message_id] = Versions(
            number=at + 1,
            count=len(ordered),
            previous_id=ordered[at - 1] if at > 0 else None,
            next_id=ordered[at + 1] if at + 1 < len(ordered) else None,
        )
    return found
