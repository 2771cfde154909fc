from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import Settings, SettingsError, load_settings


def test_defaults_are_the_embedded_sqlite() -> None:
    s = load_settings({})
    assert s.data_dir == Path("./var")
    assert s.main_database_url.startswith("sqlite:///")
    assert s.main_database_url.endswith("var/genomseq.sqlite")
    assert s.trust_center_database_url.endswith("var/trust_center.sqlite")
    assert s.authorization == "on"


def test_environment_overrides_toml(tmp_path: Path) -> None:
    cfg = tmp_path / "genomseq.toml"
    cfg.write_text("port = 9000\nworkers = 3\n[fhir]\ndefault_page_size = 20\nvalidate = false\n")
    s = load_settings({"GENOMSEQ_CONFIG": str(cfg), "GENOMSEQ_PORT": "9100"})
    assert s.port == 9100
    assert s.workers == 3
    assert s.fhir.default_page_size == 20
    assert s.fhir.validate is False


def test_nested_section_from_environment() -> None:
    s = load_settings({"GENOMSEQ_FHIR_MAX_REQUEST_BYTES": "1024", "GENOMSEQ_FHIR_VALIDATE": "no"})
    assert s.fhir.max_request_bytes == 1024
    assert s.fhir.validate is False


def test_database_url_switches_to_postgresql() -> None:
    s = load_settings({"GENOMSEQ_DATABASE_URL": "postgresql://u@db/genomseq"})
    assert s.main_database_url == "postgresql://u@db/genomseq"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GENOMSEQ_PORT": "eighty"}, "GENOMSEQ_PORT"),
        ({"GENOMSEQ_AUTHORIZATION": "maybe"}, "GENOMSEQ_AUTHORIZATION"),
        ({"GENOMSEQ_FHIR_VALIDATE": "perhaps"}, "GENOMSEQ_FHIR_VALIDATE"),
        ({"GENOMSEQ_NO_SUCH_THING": "1"}, "GENOMSEQ_NO_SUCH_THING"),
    ],
)
def test_bad_values_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(env)


def test_unknown_toml_key_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[fhir]\nno_such_key = 1\n")
    with pytest.raises(SettingsError, match="fhir.no_such_key"):
        load_settings({"GENOMSEQ_CONFIG": str(cfg)})


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]
