"""mkdocs hook: the command-line reference, generated from the typer app by mkdocs-typer2.

A page holding the directive

    ::: mkdocs-typer2
        :module: gammalake.cli.app
        :name: gammalake

gets the markdown mkdocs-typer2 builds from the app (every command, argument and option),
without its title (the page has its own; the sections below it are h2 to h6). The hook puts it
into the page's markdown before the page is rendered,
rather than letting the plugin insert finished HTML: rendered as part of the page, usage lines
such as `gammalake sql [OPTIONS] [QUERY]` stay code, where the plugin's HTML let them be read as
cross-references (a warning, so a failure of `mkdocs build --strict`).
"""

from __future__ import annotations

import re
from typing import Any

from mkdocs_typer2.pretty import build_tree_from_click_app, tree_to_markdown

#: The directive and its `:key: value` lines.
DIRECTIVE = re.compile(r"^::: mkdocs-typer2\n((?:[ \t]+:\w+:.*\n?)+)", re.MULTILINE)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Return the page's markdown with each mkdocs-typer2 directive replaced by the reference."""
    return DIRECTIVE.sub(_reference, markdown)


def _reference(match: re.Match[str]) -> str:
    """Return the reference of the app the directive names (`:module:`, `:name:`)."""
    options = dict(re.findall(r":(\w+):[ \t]*(\S+)", match.group(1)))
    tree = build_tree_from_click_app(options["module"], options.get("name", ""))
    return _untitled(tree_to_markdown(tree)) + "\n"


def _untitled(markdown: str) -> str:
    """Return markdown without its first line when that is an h1 (`# gammalake`)."""
    first, _, rest = markdown.lstrip("\n").partition("\n")
    return rest if first.startswith("# ") else markdown
