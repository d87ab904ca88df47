"""The settings reference in docs/ is generated from conf.py and must match it."""

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_settings_reference_lists_every_setting_as_conf_py_defines_it():
    generator = runpy.run_path(str(ROOT / "scripts" / "settings_doc.py"))
    committed = (ROOT / "docs" / "settings.md").read_text()
    assert committed == generator["render"](), (
        "docs/settings.md is out of date: run `python scripts/settings_doc.py` and commit it."
    )


def test_every_setting_has_a_description():
    from thredfi_django.conf import DEFAULTS

    generator = runpy.run_path(str(ROOT / "scripts" / "settings_doc.py"))
    described = [
        key
        for keys, text in generator["groups"]((ROOT / "thredfi_django" / "conf.py").read_text())
        if text
        for key in keys
    ]
    assert sorted(described) == sorted(DEFAULTS)
