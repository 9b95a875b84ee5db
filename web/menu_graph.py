"""A menu tree as a picture: Graphviz ``dot`` source built from the tree, rendered to SVG by the
Debian ``graphviz`` package (a subprocess with a time limit; no input reaches its command line)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable

from menus.model import MenuTree

DOT_TIMEOUT_S = 10.0
MAX_LABEL_CHARS = 40


class GraphUnavailable(Exception):
    """``dot`` is missing, failed or took too long (the page lists the nodes instead)."""


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL_CHARS else text[: MAX_LABEL_CHARS - 1] + "…"


def tree_dot(
    tree: MenuTree, *, bad: set[str], selected: str | None, link: Callable[[str], str]
) -> str:
    """``dot`` source: one box per node (red with a problem, bold when selected), one arrow per
    exit labelled with its key or field."""
    lines = [
        "digraph menu {",
        '  graph [rankdir=LR, fontname="sans-serif", nodesep=0.25, ranksep=0.45, bgcolor="white"];',
        '  node [shape=box, style="rounded,filled", fontname="sans-serif", fontsize=11, '
        'fillcolor="#eef4fb", color="#5b7ea6"];',
        '  edge [fontname="sans-serif", fontsize=9, color="#5b6b7a"];',
    ]
    for node_id, node in tree.nodes.items():
        attrs = [
            f"label={_quote(node_id + chr(10) + '(' + node.kind.value + ')')}",
            f"URL={_quote(link(node_id))}",
            f"tooltip={_quote(_short(node.prompt.text if node.prompt else node_id))}",
            'target="_top"',
            f"id={_quote('n_' + node_id)}",
        ]
        if node_id in bad:
            attrs.append('fillcolor="#fdecea", color="#b3261e", fontcolor="#b3261e"')
        if node_id == selected:
            attrs.append("penwidth=3")
        lines.append(f"  {_quote(node_id)} [{', '.join(attrs)}];")
        for field, target in node.targets():
            label = _edge_label(node, field)
            if target in tree.nodes:
                lines.append(f"  {_quote(node_id)} -> {_quote(target)} [label={_quote(label)}];")
    lines.append("}")
    return "\n".join(lines)


def _edge_label(node: object, field: str) -> str:
    match = re.fullmatch(r"choices\[(\d+)\]\.next", field)
    if match:
        choices = getattr(node, "choices", ())
        choice = choices[int(match.group(1))]
        return f"phím {choice.key}" if choice.key else _short(", ".join(choice.keywords[:1]))
    return "" if field == "next" else field


def render_svg(dot_source: str) -> str:
    """The SVG element for ``dot_source`` (prolog and doctype removed, for inlining)."""
    executable = shutil.which("dot")
    if executable is None:
        raise GraphUnavailable("graphviz 'dot' is not installed")
    try:
        done = subprocess.run(
            [executable, "-Tsvg"],
            input=dot_source.encode(),
            capture_output=True,
            timeout=DOT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise GraphUnavailable("dot took too long") from None
    if done.returncode != 0:
        raise GraphUnavailable(done.stderr.decode(errors="replace")[:200])
    svg = done.stdout.decode()
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else ""
