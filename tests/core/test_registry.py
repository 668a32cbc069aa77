"""course_utils.core.registry: section ids, the section folders on disk, discovery, and the one registry type."""

import sys
from dataclasses import dataclass

import pytest

from course_utils.core.registry import ROLES, Registry, defined_by, discover, section_id, section_packages


@pytest.mark.parametrize(("given", "expected"), [(5, "05"), ("5", "05"), ("05", "05"), (" 7 ", "07"), (12, "12")])
def test_section_id_normalises_every_way_of_writing_a_section(given, expected):
    assert section_id(given) == expected


@pytest.mark.parametrize("bad", ["five", "123", "", "0.5", True, None, "05_vae"])
def test_section_id_refuses_what_is_not_a_section_number(bad):
    with pytest.raises(ValueError, match="a section is a number such as 5 or '05'"):
        section_id(bad)


def test_the_seven_section_folders_are_found_in_order():
    packages = section_packages()
    assert list(packages) == ["01", "02", "03", "04", "05", "06", "07"]
    assert packages["05"] == "course_utils.s05_flow_matching"
    assert all(name.startswith(f"course_utils.s{sid}_") for sid, name in packages.items())


def test_discover_imports_each_sections_module_of_a_role():
    found = discover("checks")
    assert found == [f"{package}.checks" for package in section_packages().values()]
    assert all(name in sys.modules for name in found)
    assert discover("checks", section="5") == ["course_utils.s05_flow_matching.checks"]


def test_discover_skips_a_section_without_that_role():
    # section 01 trains no model for make bench: it has no models module
    assert "course_utils.s01_kl_elbo.models" not in discover("models")
    assert discover("models", section="01") == []


def test_discover_refuses_an_unknown_role():
    with pytest.raises(ValueError, match="role must be one of " + ", ".join(ROLES)):
        discover("plotting")


@dataclass(frozen=True)
class _Entry:
    name: str
    section: str
    make: object


def _first():
    pass


def _second():
    pass


def _registry():
    return Registry("thing", key=lambda e: e.name, order=lambda e: (e.section, e.name),
                    origin=lambda e: defined_by(e.make))


def test_registry_lists_sorted_and_by_section():
    reg = _registry()
    reg.add(_Entry("b", "02", _first))
    reg.add(_Entry("a", "02", _second))
    reg.add(_Entry("c", "01", _first))
    assert [e.name for e in reg.all()] == ["c", "a", "b"]
    assert [e.name for e in reg.all("2")] == ["a", "b"] == [e.name for e in reg.all(2)]
    assert reg.all("09") == []
    assert reg.sections() == ["01", "02"]
    assert len(reg) == 3 and "a" in reg and [e.name for e in reg] == ["c", "a", "b"]


def test_registry_replaces_a_reloaded_definition_and_refuses_a_second_one():
    reg = _registry()
    reg.add(_Entry("a", "01", _first))
    reg.add(_Entry("a", "03", _first))  # the same function again: a module reload
    assert reg.get("a").section == "03"
    with pytest.raises(ValueError, match=r"thing 'a' is registered twice \(first by .*_first\)"):
        reg.add(_Entry("a", "01", _second))


def test_registry_get_names_the_known_keys_and_remove_forgets():
    reg = _registry()
    reg.add(_Entry("a", "01", _first))
    with pytest.raises(KeyError, match="no thing 'z'; known things: a"):
        reg.get("z")
    reg.remove("a")
    reg.remove("a")  # removing twice is fine
    assert len(reg) == 0
