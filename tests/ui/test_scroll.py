"""ui/scroll.py draws its component once per run: out of the tab order, with a fresh token in
each run that sends a message and none otherwise, so the browser scrolls once per turn. Its
document loads scripts from files only (the page's CSP allows 'self'). What the scripts do in
the browser is tests/browser/test_turn_in_view_in_browser.py's."""

from __future__ import annotations

import json
import re

from streamlit.testing.v1 import AppTest

from ui.scroll import ASSETS, COMPONENT_KEY


def _page() -> None:
    import streamlit as st

    from ui.scroll import keep_turn_in_view

    keep_turn_in_view(new_turn=st.session_state.get("new_turn", False))


def _drawn(app: AppTest) -> tuple[str | None, int]:
    [element] = app.get("component_instance")
    assert element.key == COMPONENT_KEY
    return json.loads(element.proto.json_args)["turn"], element.proto.tab_index


def test_a_run_without_a_new_turn_gives_no_token_and_the_frame_no_tab_stop() -> None:
    app = AppTest.from_function(_page).run()
    assert _drawn(app) == (None, -1)
    assert _drawn(app.run()) == (None, -1)


def test_each_new_turn_gives_a_token_of_its_own() -> None:
    app = AppTest.from_function(_page)
    app.session_state["new_turn"] = True
    first, _ = _drawn(app.run())
    second, _ = _drawn(app.run())
    assert first and second and first != second
    app.session_state["new_turn"] = False
    assert _drawn(app.run()) == (None, -1)


def test_the_component_document_has_no_inline_script() -> None:
    html = (ASSETS / "index.html").read_text()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all(
        'src="' in attributes and not body.strip() for attributes, body in scripts
    )
    for attributes, _ in scripts:
        name = re.search(r'src="([^"]+)"', attributes).group(1)
        assert (ASSETS / name).is_file()
    assert (ASSETS / "follow.js").is_file()


def _sign_in_like_page() -> None:
    from ui.scroll import quiet_hidden_frames

    quiet_hidden_frames()


def test_a_page_without_a_chat_draws_the_component_only_to_quiet_hidden_frames() -> None:
    app = AppTest.from_function(_sign_in_like_page).run()
    [element] = app.get("component_instance")
    assert element.key == COMPONENT_KEY
    assert json.loads(element.proto.json_args)["follows"] is False
    assert element.proto.tab_index == -1
