from __future__ import annotations

import dataclasses
import stat
from pathlib import Path

import pytest

from config.settings import Settings, SettingsError
from trust_center.storage.master_key import default_key_path, load_master_key


def _settings(tmp_path: Path, **tc: str) -> Settings:
    base = Settings()
    return dataclasses.replace(base, data_dir=tmp_path,
                               trust_center=dataclasses.replace(base.trust_center, **tc))


def test_generated_on_first_start_private_and_stable(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    key = load_master_key(settings)
    path = default_key_path(settings)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_master_key(settings) == key


def test_from_file(tmp_path: Path) -> None:
    path = tmp_path / "master.hex"
    path.write_text("11" * 32 + "\n")
    path.chmod(0o600)
    assert load_master_key(_settings(tmp_path, master_key_file=str(path))) == b"\x11" * 32
    path.chmod(0o640)
    with pytest.raises(SettingsError, match="group or others"):
        load_master_key(_settings(tmp_path, master_key_file=str(path)))
    with pytest.raises(SettingsError, match="does not exist"):
        load_master_key(_settings(tmp_path, master_key_file=str(tmp_path / "missing")))


def test_from_environment_value(tmp_path: Path) -> None:
    assert load_master_key(_settings(tmp_path, master_key="ab" * 32)) == b"\xab" * 32
    for bad in ("ab" * 31, "zz" * 32):
        with pytest.raises(SettingsError) as info:
            load_master_key(_settings(tmp_path, master_key=bad))
        assert bad not in str(info.value)  # the key never appears in messages


def test_key_is_not_in_repr(tmp_path: Path) -> None:
    assert "ab" * 32 not in repr(_settings(tmp_path, master_key="ab" * 32))
