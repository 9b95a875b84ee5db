"""A menu tree as a directed graph, with the edges the runtime adds implicitly (main menu, back,
repeat, the officer after the retries, a failed transfer back to the start): what the
validator's reachability, loop and depth checks walk."""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from menus.model import (
    LISTENING_KINDS,
    BackNode,
    GlobalAction,
    MainMenuNode,
    MenuTree,
    NodeKind,
    OnFail,
    RepeatNode,
    SurveyNode,
    TransferNode,
)

EXIT_KINDS = frozenset({NodeKind.TRANSFER, NodeKind.HANGUP})
"""Kinds that end the caller's time in the tree: a person or a hang-up."""

OFFICER = "\x00officer"  # pseudo node: the default officer transfer (always an exit)


def names(component: Iterable[str], graph: Graph) -> str:
    """The ids of a strongly connected component, in the order the tree lists them."""
    return " -> ".join(sorted(component, key=graph.order.__getitem__))


class Graph:
    """The tree as a directed graph, with the edges the runtime adds implicitly."""

    def __init__(self, tree: MenuTree) -> None:
        self.tree = tree
        self.order = {node_id: i for i, node_id in enumerate(tree.nodes)}
        self.order[OFFICER] = len(self.order)
        # explicit edges: node -> [(field, target)]
        self.edges: dict[str, list[tuple[str, str]]] = {n: [] for n in tree.nodes}
        self.edges[OFFICER] = []
        for node_id, node in tree.nodes.items():
            for field, target in node.targets():
                if target in tree.nodes:
                    self.edges[node_id].append((field, target))
        explicit_preds = self._predecessors()
        officer = OFFICER
        if tree.officer_node is not None and tree.officer_node in tree.nodes:
            officer = tree.officer_node
        start = tree.start if tree.start in tree.nodes else None
        officer_key = GlobalAction.OFFICER in tree.global_keys.values() or bool(
            tree.global_keywords.get(GlobalAction.OFFICER)
        )
        for node_id, node in tree.nodes.items():
            out = self.edges[node_id]
            if isinstance(node, MainMenuNode) and start is not None:
                out.append(("", start))
            if isinstance(node, BackNode):
                if start is not None:
                    out.append(("", start))
                for ancestor in self._ancestors(node_id, explicit_preds):
                    if tree.nodes[ancestor].kind is NodeKind.MENU:
                        out.append(("", ancestor))
            if isinstance(node, RepeatNode):
                out.extend(("", p) for p in explicit_preds[node_id])
            if isinstance(node, TransferNode) and node.failed is None and start is not None:
                out.append(("", start))
            if officer_key and node.kind in LISTENING_KINDS:
                out.append(("", officer))
            if node.kind in LISTENING_KINDS and not isinstance(node, SurveyNode):
                # a survey moves on to next after its retries; other nodes follow on_fail
                fail = tree.on_fail_for(node)
                if fail is OnFail.OFFICER:
                    out.append(("on_fail", officer))
                if fail is OnFail.MAIN_MENU and start is not None:
                    out.append(("on_fail", start))
        self.exits = {n for n, node in tree.nodes.items() if node.kind in EXIT_KINDS}
        self.exits.add(OFFICER)

    def _predecessors(self) -> dict[str, list[str]]:
        preds: dict[str, list[str]] = {n: [] for n in self.edges}
        for source, out in self.edges.items():
            for _field, target in out:
                preds[target].append(source)
        return preds

    @staticmethod
    def _ancestors(node_id: str, preds: dict[str, list[str]]) -> set[str]:
        seen: set[str] = set()
        stack = list(preds[node_id])
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(preds[current])
        return seen

    def reach(self, roots: Iterable[str]) -> set[str]:
        seen: set[str] = set()
        stack = list(roots)
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(t for _f, t in self.edges[current])
        return seen

    def reverse_reach(self, targets: Iterable[str]) -> set[str]:
        preds = self._predecessors()
        seen: set[str] = set()
        stack = list(targets)
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(preds[current])
        return seen

    def cycles(self, within: set[str] | None = None) -> list[set[str]]:
        """Strongly connected components that contain a cycle (Tarjan, iterative), optionally
        of the subgraph of the nodes ``within``."""
        nodes = list(self.edges) if within is None else [n for n in self.edges if n in within]
        allowed = set(nodes)

        def successors(node: str) -> list[str]:
            return [t for _f, t in self.edges[node] if t in allowed]

        index: dict[str, int] = {}
        low: dict[str, int] = {}
        on_stack: set[str] = set()
        stack: list[str] = []
        found: list[set[str]] = []
        counter = 0
        for root in nodes:
            if root in index:
                continue
            work: list[tuple[str, int]] = [(root, 0)]
            while work:
                node, i = work.pop()
                if i == 0:
                    index[node] = low[node] = counter
                    counter += 1
                    stack.append(node)
                    on_stack.add(node)
                targets = successors(node)
                if i < len(targets):
                    work.append((node, i + 1))
                    nxt = targets[i]
                    if nxt not in index:
                        work.append((nxt, 0))
                    elif nxt in on_stack:
                        low[node] = min(low[node], index[nxt])
                    continue
                if low[node] == index[node]:
                    component: set[str] = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    self_loop = node in successors(node)
                    if len(component) > 1 or self_loop:
                        found.append(component)
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
        return sorted(found, key=lambda c: min(self.order[n] for n in c))

    def field_into(self, node_id: str, component: set[str]) -> str:
        """The first field of ``node_id`` that leads back into ``component``."""
        for field, target in self.edges[node_id]:
            if target in component:
                return field
        return ""

    def menu_depths(self, start: str) -> dict[str, int]:
        """Fewest menu levels on a path from ``start`` to each node (explicit edges only)."""

        def weight(node_id: str) -> int:
            kind = self.tree.nodes[node_id].kind
            return 1 if kind in (NodeKind.MENU, NodeKind.PROCEDURE) else 0

        best = {start: weight(start)}
        heap = [(best[start], start)]
        while heap:
            levels, node_id = heapq.heappop(heap)
            if levels > best.get(node_id, levels):
                continue
            node = self.tree.nodes[node_id]
            for _field, target in node.targets():
                if target not in self.tree.nodes:
                    continue
                candidate = levels + weight(target)
                if candidate < best.get(target, candidate + 1):
                    best[target] = candidate
                    heapq.heappush(heap, (candidate, target))
        return best
