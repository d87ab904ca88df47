"""The installed package's metadata agrees with itself (run against the wheel in CI, too)."""

from importlib.metadata import metadata

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

import thredfi_django

META = metadata("thredfi-django")


def classified(prefix):
    return [c.removeprefix(prefix) for c in META.get_all("Classifier") if c.startswith(prefix)]


def test_the_version_comes_from_the_package():
    assert META["Version"] == thredfi_django.__version__


def test_every_django_classifier_is_a_version_the_requirement_allows():
    (django,) = [Requirement(r) for r in META.get_all("Requires-Dist") if r.startswith("Django")]
    versions = classified("Framework :: Django :: ")
    assert versions, "no Framework :: Django :: X.Y classifier"
    assert [v for v in versions if f"{v}.0" not in django.specifier] == []
    assert "4.2.0" not in django.specifier  # out of support since April 2026


def test_every_python_classifier_is_a_version_requires_python_allows():
    requires = SpecifierSet(META["Requires-Python"])
    versions = [v for v in classified("Programming Language :: Python :: ") if v[0].isdigit()]
    assert [v for v in versions if "." in v and f"{v}.0" not in requires] == []
    assert "3.10" in versions and "3.14" in versions
