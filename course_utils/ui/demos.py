"""The demo registry: widget modules declare their demos, automation discovers them.

A section's ``widgets`` module marks each demo factory with :func:`demo`; :func:`demos`
imports every section's ``widgets`` module found on disk, so a new section's demos appear
with no hand-kept list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.registry import Registry, defined_by, discover, section_id

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


#: Every registered demo, by (section, name).
DEMOS: Registry[DemoSpec] = Registry("demo", key=lambda s: (s.section, s.name),
                                     order=lambda s: (s.section, s.order, s.name),
                                     origin=lambda s: defined_by(s.factory))


def demo(*, section: str, title: str, order: int = 0, simulates: bool = False):
    """Decorator registering a demo factory; returns the factory unchanged.

    Example::

        @demo(section="01", title="Forward vs reverse KL", order=1)
        def kl_fit_demo(lecture=False): ...
    """

    def register(factory):
        DEMOS.add(DemoSpec(section_id(section), factory.__name__, title, factory, order, simulates))
        return factory

    return register


def demos(section: str | None = None) -> list[DemoSpec]:
    """Every section's demos (importing each section's ``widgets`` module), ordered by section then ``order``;
    only ``section``'s if given."""
    discover("widgets", section)
    return DEMOS.all(section)


def show_demo(section: str, name: str, lecture: bool = True):
    """Build one registered demo (the lecture preset by default): what a demo page's cell calls."""
    discover("widgets", section)
    wanted = (section_id(section), name)
    if wanted not in DEMOS:
        known = ", ".join(s.name for s in DEMOS.all(section)) or "none"
        raise KeyError(f"no demo {name!r} in section {wanted[0]}; its demos: {known}")
    return DEMOS.get(wanted).build(lecture=lecture)
