"""Every setting is a `PINGVAS_*` variable listed in the README's configuration table."""

from pathlib import Path

from invokeai_saas.core.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_setting_is_in_the_readme() -> None:
    text = README.read_text()
    missing = [name for name in Settings.model_fields if f"PINGVAS_{name.upper()}" not in text]
    assert missing == [], f"settings not documented in README.md: {missing}"
