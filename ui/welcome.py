"""A new chat's welcome: one line, and a few starter prompts that fit the chosen specialty.
A prompt clicked is sent as if typed (ui/sending.py)."""

from __future__ import annotations

import streamlit as st

from memory import DEFAULT_ABILITY
from ui.sending import QUEUED_KEY
from ui.text import plain

# Specialties people often pick, with prompts a specialist would be asked first. Any other
# specialty gets the general ones, worded around it.
_KNOWN: dict[str, tuple[str, ...]] = {
    "java": (
        "Explain the difference between an interface and an abstract class",
        "How do I read a file line by line?",
        "What does the final keyword do?",
    ),
    "python": (
        "Explain list comprehensions with an example",
        "How do I read a CSV file?",
        "What is the difference between a list and a tuple?",
    ),
    "math": (
        "Explain what a derivative means",
        "How do I solve a quadratic equation?",
        "Give me a probability puzzle to try",
    ),
    "cooking": (
        "What can I cook tonight with eggs, rice and spinach?",
        "How do I keep pasta from sticking?",
        "Suggest a simple vegetarian lunch",
    ),
}
_GENERAL = (
    "Explain the basics of {ability} in simple terms",
    "What do beginners in {ability} most often get wrong?",
    "Give me a short {ability} exercise to try",
)
_GENERAL_DEFAULT = (
    "Explain something surprising about the night sky",
    "Help me plan a productive morning",
    "Give me three questions to start a discussion",
)


def starter_prompts(ability: str) -> list[str]:
    """Three prompts for a chat with an assistant specialized in `ability`."""
    key = ability.strip().casefold()
    if key in _KNOWN:
        return list(_KNOWN[key])
    if not key or key == DEFAULT_ABILITY.casefold():
        return list(_GENERAL_DEFAULT)
    return [prompt.format(ability=ability.strip()) for prompt in _GENERAL]


def _send_starter(prompt: str) -> None:
    st.session_state[QUEUED_KEY] = prompt


def show_welcome(ability: str, *, disabled: bool) -> None:
    """Under a new chat's specialty: a welcome line and the starter prompts, as buttons."""
    st.markdown(f"Ask the **{plain(ability)}** assistant anything, or start with one of these:")
    row = st.container(horizontal=True, gap="small", key="starter-prompts")
    for number, prompt in enumerate(starter_prompts(ability)):
        row.button(
            plain(prompt),
            key=f"starter-{number}",
            icon=":material/chat_bubble:",
            disabled=disabled,
            on_click=_send_starter,
            args=(prompt,),
        )
