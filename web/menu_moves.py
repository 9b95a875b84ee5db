"""Moving a node of a draft to another place in the tree: under another menu, on a key.

A node's place in the tree is the menu choices that lead to it. Moving it takes those choices
out of their menus and adds one choice to the new menu (keeping the spoken words of the choice
it had, so callers can still say them). Arrows that are the flow rather than the tree (a
``say`` node's ``next``, a ``goto``'s ``target``, the global keys) are left as they are; any
problem the move makes is shown by validation at its node and field, like any edit.
"""

from __future__ import annotations

from typing import Any

MENU_KEYS = frozenset("0123456789*#")


class MoveRefused(ValueError):
    """The move cannot be made (the message says why, in the editor's language)."""


def menu_ids(nodes: dict[str, Any]) -> list[str]:
    """The ids of the menu nodes, which can hold choices."""
    return [n for n, node in nodes.items() if isinstance(node, dict) and node.get("kind") == "menu"]


def parents_of(nodes: dict[str, Any], node_id: str) -> list[str]:
    """The menus with a choice leading to ``node_id``."""
    return [
        menu
        for menu in menu_ids(nodes)
        if any(_leads_to(c, node_id) for c in nodes[menu].get("choices") or [])
    ]


def _leads_to(choice: Any, node_id: str) -> bool:
    return isinstance(choice, dict) and choice.get("next") == node_id


def move_node(data: dict[str, Any], node_id: str, parent: str, key: str) -> dict[str, Any]:
    """Move ``node_id`` under the menu ``parent`` on ``key`` (``data`` changed in place).

    Returns the menus changed as they were before (for the audit log).
    """
    nodes = data.get("nodes")
    if not isinstance(nodes, dict) or node_id not in nodes:
        raise MoveRefused(f"không có nút {node_id!r}")
    if parent not in menu_ids(nodes):
        raise MoveRefused(f"{parent!r} không phải nút menu")
    if parent == node_id:
        raise MoveRefused("không thể chuyển một nút vào chính nó")
    if key not in MENU_KEYS:
        raise MoveRefused(f"phím {key!r}: một phím 0-9, * hoặc #")
    old_parents = parents_of(nodes, node_id)
    before = {menu: _copy(nodes[menu]) for menu in {*old_parents, parent}}
    words: list[str] = []
    for menu in old_parents:
        kept = []
        for choice in nodes[menu].get("choices") or []:
            if _leads_to(choice, node_id):
                words += [w for w in choice.get("keywords") or [] if w not in words]
            else:
                kept.append(choice)
        nodes[menu]["choices"] = kept
    choices = nodes[parent].setdefault("choices", [])
    taken = [c.get("next") for c in choices if isinstance(c, dict) and str(c.get("key")) == key]
    if taken:
        for menu, node in before.items():  # leave the draft as it was
            nodes[menu] = node
        raise MoveRefused(f"phím {key} của {parent!r} đã dẫn đến {taken[0]!r}")
    added: dict[str, Any] = {"key": key}
    if words:
        added["keywords"] = words
    added["next"] = node_id
    choices.append(added)
    return before


def _copy(node: dict[str, Any]) -> dict[str, Any]:
    return {
        k: [dict(c) if isinstance(c, dict) else c for c in v] if k == "choices" else v
        for k, v in node.items()
    }
