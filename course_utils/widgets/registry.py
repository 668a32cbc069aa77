"""The demo registry: widget modules declare their demos, automation discovers them.

A widgets module marks each demo factory with :func:`demo`; importing
:mod:`course_utils.widgets` imports every widgets module found on disk, so a new
section's demos appear in :func:`demos` with no hand-kept list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["DemoSpec", "demo", "demos", "show_demo"]


@dataclass(frozen=True)
class DemoSpec:
    """One registered demo.

    Attributes:
        section: the course section, two digits ("01").
        name: the factory's name, e.g. ``"kl_fit_demo"``.
        title: a one-line title for a demo page.
        factory: builds the demo; accepts ``lecture=True`` for the lecture preset.
        order: position within the section (lower first).
        simulates: True when a redraw samples or integrates (budget 250 ms a redraw),
            False for closed-form pictures (budget 100 ms); see ``make bench``.
    """

    section: str
    name: str
    title: str
    factory: Callable[..., Any]
    order: int = 0
    simulates: bool = False

    @property
    def budget_ms(self) -> float:
        """The median redraw time this demo must stay under."""
        return 250.0 if self.simulates else 100.0

    def build(self, **kwargs) -> Any:
        """Call the factory: ``spec.build(lecture=True)``."""
        return self.factory(**kwargs)


_REGISTRY: dict[tuple[str, str], DemoSpec] = {}


def _normalise_section(section) -> str:
    section = str(section)
    return section.zfill(2) if section.isdigit() else section


def demo(*, section: str, title: str, order: int = 0, simulates: bool = False):
    """Decorator registering a demo factory; returns the factory unchanged.

    Example::

        @demo(section="01", title="Forward vs reverse KL", order=1)
        def kl_fit_demo(lecture=False): ...
    """

    def register(factory):
        spec = DemoSpec(_normalise_section(section), factory.__name__, title, factory, order, simulates)
        _REGISTRY[(spec.section, spec.name)] = spec  # a module reload replaces, never duplicates
        return factory

    return register


def demos(section: str | None = None) -> list[DemoSpec]:
    """Registered demos, ordered by section then ``order``; only ``section``'s if given."""
    specs = _REGISTRY.values()
    if section is not None:
        wanted = _normalise_section(section)
        specs = [s for s in specs if s.section == wanted]
    return sorted(specs, key=lambda s: (s.section, s.order, s.name))


def show_demo(section: str, name: str, lecture: bool = True):
    """Build one registered demo (the lecture preset by default): what a demo page's cell calls."""
    wanted = (_normalise_section(section), name)
    if wanted not in _REGISTRY:
        known = ", ".join(s.name for s in demos(section)) or "none"
        raise KeyError(f"no demo {name!r} in section {wanted[0]}; its demos: {known}")
    return _REGISTRY[wanted].build(lecture=lecture)
