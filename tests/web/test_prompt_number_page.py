"""The editor page shows beside a node's prompt the number an editor dials on the recording
line, the same number :mod:`menus.prompt_numbers` gives the draft the line records into."""

from __future__ import annotations

import re

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from menus.prompt_numbers import DraftRecordings
from tests.web.test_menu_editor import editor, new_draft, prepared


def test_editor_shows_the_recording_line_number_of_the_prompt(
    app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    store = prepared(sessions)
    with editor(app, "lan") as client:
        draft = new_draft(client)
        numbers = {p.text: p.number for p in DraftRecordings(store).prompts()}
        for node in ("greeting", "main"):
            page = client.get(f"{draft}?node={node}")
            assert page.status_code == 200
            shown = re.search(r'id="prompt-number">số (\d+) ', page.text)
            assert shown is not None, node
            prompt = store.active()[1].nodes[node].prompt
            assert prompt is not None
            assert int(shown.group(1)) == numbers[" ".join(prompt.text.split())]
        assert len(set(numbers.values())) == len(numbers) > 20
