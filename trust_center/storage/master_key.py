"""The trust center's master key: from a file, from the environment or generated on first start.

The key never appears in logs or error messages. A key file readable by group or others is
refused: whoever reads it can compute every pseudonym.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import time
from pathlib import Path

from config.settings import Settings, SettingsError
from trust_center.core.pseudonyms import MASTER_KEY_BYTES


def default_key_path(settings: Settings) -> Path:
    """Where the embedded default keeps a generated master key."""
    return settings.data_dir / "trust_center" / "master.key"


def _parse(text: str, where: str) -> bytes:
    value = text.strip()
    try:
        key = bytes.fromhex(value)
    except ValueError:
        raise SettingsError(f"{where}: the master key must be hexadecimal") from None
    if len(key) != MASTER_KEY_BYTES:
        raise SettingsError(
            f"{where}: the master key must be {MASTER_KEY_BYTES * 2} hex characters")
    return key


def _read_private(path: Path, where: str) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SettingsError(f"{where}: {path} must not be readable by group or others (chmod 600)")
    return _parse(path.read_text(), where)


def load_master_key(settings: Settings) -> bytes:
    """The master key the settings name, generating the default one if there is none yet."""
    tc = settings.trust_center
    if tc.master_key_file:
        path = Path(tc.master_key_file)
        if not path.exists():
            raise SettingsError(f"trust_center.master_key_file: {path} does not exist")
        return _read_private(path, "trust_center.master_key_file")
    if tc.master_key:
        return _parse(tc.master_key, "trust_center.master_key")
    path = default_key_path(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # O_EXCL: if two workers start at once, the second reads the first one's key.
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_bytes(MASTER_KEY_BYTES).hex() + "\n")
                fh.flush()
                os.fsync(fh.fileno())
    # Another worker may have created the file a moment ago and still be writing it.
    for _ in range(50):
        if path.stat().st_size >= MASTER_KEY_BYTES * 2:
            break
        time.sleep(0.02)
    return _read_private(path, str(path))
