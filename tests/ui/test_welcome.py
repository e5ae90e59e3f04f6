"""A new chat's starter prompts fit the chosen specialty."""

from __future__ import annotations

from memory import DEFAULT_ABILITY
from ui.welcome import starter_prompts


def test_a_known_specialty_gets_its_own_prompts_whatever_its_case() -> None:
    prompts = starter_prompts(" Java ")
    assert len(prompts) == 3
    assert "interface and an abstract class" in prompts[0]
    assert starter_prompts("JAVA") == prompts


def test_any_other_specialty_gets_prompts_worded_around_it() -> None:
    prompts = starter_prompts("beekeeping")
    assert len(prompts) == 3
    assert all("beekeeping" in prompt for prompt in prompts)


def test_the_default_specialty_gets_general_prompts_not_worded_around_its_name() -> None:
    prompts = starter_prompts(DEFAULT_ABILITY)
    assert len(prompts) == 3
    assert not any(DEFAULT_ABILITY in prompt for prompt in prompts)
    assert starter_prompts("  ") == prompts
