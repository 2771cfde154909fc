"""Settings: the one typed, frozen configuration object of a genomseq deployment.

Values come, in increasing priority, from the defaults below, an optional TOML file named by
``GENOMSEQ_CONFIG`` and ``GENOMSEQ_*`` environment variables. Nothing is read at import time:
call :func:`load_settings`.

Naming: a top-level field ``data_dir`` is ``GENOMSEQ_DATA_DIR`` and ``data_dir = "..."`` in
TOML; a field ``max_regions`` of the section ``htsget`` is ``GENOMSEQ_HTSGET_MAX_REGIONS`` and
``[htsget] max_regions = ...``. Each component owns one section dataclass below; every field is
documented in docs/configuration.md.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ENV_PREFIX = "GENOMSEQ_"


class SettingsError(ValueError):
    """A configuration value is missing, unknown or malformed."""


@dataclass(frozen=True)
class FhirSettings:
    """Clinical data node (FHIR R4 server)."""

    base_path: str = "/fhir"
    # Largest accepted request body in bytes (413 above it). Synthea bundles are up to ~10 MB.
    max_request_bytes: int = 64 * 1024 * 1024
    default_page_size: int = 50
    max_page_size: int = 1000
    # Validate every incoming resource against the fhir.resources R4B models.
    validate: bool = True
    # Worker processes used by `genomseq fhir load`.
    load_workers: int = 4


@dataclass(frozen=True)
class TrustCenterSettings:
    """Trust center: Vorgangsnummern, pseudonyms, consent, re-identification."""

    # Empty: the trust center runs in-process with its own database (see database_url).
    # Set (https://tc.example/trust-center): this node uses that trust center over HTTP.
    url: str = ""
    database_url: str = ""
    # File holding the 32-byte master key as 64 hex characters (0600). Empty: master_key, or
    # else <data_dir>/trust_center/master.key, generated on first start.
    master_key_file: str = ""
    # The master key itself as 64 hex characters (prefer master_key_file; never logged).
    master_key: str = field(default="", repr=False)
    # Days a Vorgangsnummer (or tanG/tanC) can be exchanged after registration.
    vorgangsnummer_lifetime_days: int = 90
    # Compatibility mode: accept hospital-generated tanG/tanC instead of issued Vorgangsnummern.
    accept_transfer_numbers: bool = True
    # File with a shared secret machine clients may send as Bearer token to /trust-center
    # (until OAuth clients exist); the HTTP adapter sends it to url.
    shared_secret_file: str = ""
    # Pseudonym domains of this deployment's own nodes (BfArM KDK/GRZ ids).
    clinical_data_node_id: str = "KDKXXX001"
    genome_data_center_id: str = "GRZXXX001"
    # Pseudonymize FHIR resources before the clinical data node stores them.
    pseudonymize_fhir: bool = True
    # Seconds the HTTP adapter waits for the trust center.
    request_timeout: float = 10.0


@dataclass(frozen=True)
class GenomicsSettings:
    """Genome data center: catalogue, htsget, DRS, refget."""

    # Local object storage; empty means <data_dir>/genomics.
    storage_dir: str = ""
    # "local" (files under storage_dir) or "s3" (an S3-compatible bucket through boto3).
    storage_backend: Literal["local", "s3"] = "local"
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = ""
    # Files at least this large show a progress bar while they are copied in.
    progress_min_bytes: int = 64 * 1024 * 1024
    # Lifetime in seconds of the signed data URLs in htsget tickets and DRS access URLs.
    url_ttl_seconds: int = 3600
    # Largest number of regions in one htsget POST (413 PayloadTooLarge above it).
    htsget_max_regions: int = 512
    # Largest htsget POST body in bytes (413 above it).
    htsget_max_request_bytes: int = 1024 * 1024
    # Parsed indexes kept in memory per worker (LRU, keyed by object and modification time).
    index_cache_size: int = 64
    # Catalogue records cached per worker for the ticket path (seconds; 0: no cache). Changes
    # on this host are seen at once (a marker file); this bounds changes made elsewhere.
    catalogue_cache_seconds: float = 5.0
    # Largest byte range behind one ticket URL (htsget: data blocks "should not exceed ~1GB").
    htsget_url_max_bytes: int = 1024 * 1024 * 1024
    # refget/seqcol: reference sequences and collections are public data (refget 2.0.0
    # "Security"): serve them without a token. Off: every request needs scope refget:read.
    refget_public: bool = True
    # Largest sub-sequence in bases served through start/end or Range (0: no limit).
    refget_subsequence_limit: int = 0


@dataclass(frozen=True)
class PassportSettings:
    """OAuth 2.0 / GA4GH Passport broker and clearinghouse."""

    # Issuer URL of this broker (``iss``); empty: public_base_url or http://host:port.
    issuer: str = ""
    # ``aud`` of access tokens and passports for this deployment's resource servers;
    # empty: the issuer URL.
    audience: str = ""
    # ``source`` of ControlledAccessGrants visas (the platform provider); empty:
    # <issuer>/platform.
    platform_url: str = ""
    access_token_lifetime: int = 600
    refresh_token_lifetime: int = 8 * 3600
    visa_lifetime: int = 3600
    # At most 3600 (GA4GH AAI: passports are short-lived); also capped by the earliest visa.
    passport_lifetime: int = 3600
    # Other brokers/visa issuers trusted by the clearinghouse: "ISSUER JWKS_URL [JWKS_URL...]"
    # per entry. Only these URLs are ever fetched.
    trusted_issuers: tuple[str, ...] = ()
    # Extra visa trust rules: "TYPE SOURCE BY[,BY...]" per entry (SOURCE "*" = any).
    visa_policies: tuple[str, ...] = ()
    max_token_bytes: int = 16 * 1024
    max_passport_bytes: int = 256 * 1024
    max_visas: int = 100
    leeway_seconds: int = 30
    # How access decisions reach the audit log: "async" (batched by a background thread, off
    # the request path; flushed at exit) or "sync" (appended before the response, ~a write
    # transaction per request; see docs/performance.md).
    audit_decisions: Literal["async", "sync"] = "async"


@dataclass(frozen=True)
class PlatformSettings:
    """Platform provider: participants, data-access applications, register."""

    name: str = "Plattformträger Modellvorhaben Genomsequenzierung"
    # Show authorized users' names in the public application register (default: institutions
    # and count only; enable if your legal reading of § 64e Abs. 9 SGB V requires names).
    register_show_user_names: bool = False
    # Committee opinions that must be recorded before an application can be approved.
    min_review_opinions: int = 1


@dataclass(frozen=True)
class BeaconSettings:
    """Beacon v2 discovery."""

    # Counts of fewer individuals than this are never shown exactly (see small_count_policy).
    count_threshold: int = 5
    # "less-than": exists=true, no count, info says "fewer than <count_threshold>";
    # "suppress": reported as no match at all (exists=false, count 0).
    small_count_policy: Literal["less-than", "suppress"] = "less-than"
    # Round reported counts to the nearest multiple of this (0 or 1: exact counts).
    count_rounding: int = 0
    # Count and record queries one caller may send per window (0: unlimited).
    query_budget: int = 1000
    query_budget_window_seconds: int = 86400
    # Security level of datasets not listed in dataset_security_levels.
    default_security_level: Literal["public", "registered", "controlled"] = "controlled"
    # "dataset-id=public|registered|controlled" entries (comma separated in the environment).
    dataset_security_levels: tuple[str, ...] = ()
    # Highest granularity each access tier gets (Beacon v2 boolean < count < record).
    public_granularity: Literal["boolean", "count", "record"] = "boolean"
    registered_granularity: Literal["boolean", "count", "record"] = "count"
    controlled_granularity: Literal["boolean", "count", "record"] = "record"
    # Assembly assumed when a query names none (GRCh37 or GRCh38).
    default_assembly: str = "GRCh38"
    # Beacon id in every response; empty: "<service_id>.beacon".
    beacon_id: str = ""
    # Only individuals whose consent permits research are counted; without a wired consent
    # service every individual then counts as not consented (fail closed).
    require_consent: bool = True
    # FHIR Patient.identifier system that carries the donor pseudonym (empty: any system).
    pseudonym_identifier_system: str = ""
    default_page_size: int = 10
    max_page_size: int = 1000


@dataclass(frozen=True)
class GrzSettings:
    """Genome data center intake of grz-cli submissions."""

    # Folder inbox (one directory per submission); empty: <data_dir>/grz/inbox.
    inbox_dir: str = ""
    # GRZXXXnnn of this genome data center (submissions addressed elsewhere are refused);
    # empty: the trust center section's genome_data_center_id (one id for the whole node).
    genomic_data_center_id: str = ""
    # Crypt4GH secret key file; empty: <data_dir>/grz/grz.sec (`genomseq grz keygen`).
    private_key_file: str = ""
    # Where plaintext lives while it is indexed; empty: <data_dir>/grz/work.
    work_dir: str = ""
    # Archive of redacted metadata.json; empty: <data_dir>/grz/archive.
    archive_dir: str = ""
    # S3-compatible inbox instead of the folder: bucket name (empty: folder inbox).
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    # Build the BAM index in a second process fed while decrypting, with extra threads
    # inflating BGZF blocks (samtools index -@): 16-19 % more CPU for a median wall clock
    # 1.2-3x shorter on the benchmark machine (docs/performance.md). False / 0: one step
    # after another, the least CPU.
    index_while_decrypting: bool = True
    index_threads: int = 2
    # Remote platform provider for Prüfberichte (empty: the in-process one of this deployment)
    # and the file holding this GRZ's bearer token for it.
    platform_url: str = ""
    platform_token_file: str = ""


@dataclass(frozen=True)
class Settings:
    """Everything a deployment can configure."""

    # Directory for the embedded default: SQLite files, keys, local object storage.
    data_dir: Path = Path("./var")
    # SQLAlchemy URL of the main database; empty means SQLite at <data_dir>/genomseq.sqlite.
    database_url: str = ""
    # "on" (default) or "off" (local development only: loopback binds, loud warning).
    authorization: Literal["on", "off"] = "on"
    # Public base URL (scheme://host[:port]) used in links when behind a proxy; empty: from request.
    public_base_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 4
    log_level: str = "INFO"
    # Static bearer tokens accepted until the passport broker is configured: a file with one
    # "sha256-hex-of-token scope scope ..." per line.
    api_tokens_file: str = ""
    # Name and organisation shown in GA4GH service-info.
    service_id: str = "de.genomseq"
    service_name: str = "genomseq"
    organization_name: str = "genomseq"
    organization_url: str = "https://example.org/genomseq"
    environment: str = "development"
    fhir: FhirSettings = field(default_factory=FhirSettings)
    trust_center: TrustCenterSettings = field(default_factory=TrustCenterSettings)
    genomics: GenomicsSettings = field(default_factory=GenomicsSettings)
    passport: PassportSettings = field(default_factory=PassportSettings)
    platform: PlatformSettings = field(default_factory=PlatformSettings)
    beacon: BeaconSettings = field(default_factory=BeaconSettings)
    grz: GrzSettings = field(default_factory=GrzSettings)

    @property
    def main_database_url(self) -> str:
        """URL of the main database (embedded SQLite under data_dir unless configured)."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'genomseq.sqlite').resolve()}"

    @property
    def trust_center_database_url(self) -> str:
        """URL of the trust center's own database, never the same as the nodes' database."""
        return self.trust_center.database_url or (
            f"sqlite:///{(self.data_dir / 'trust_center.sqlite').resolve()}"
        )

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with top-level fields changed (tests, CLI overrides)."""
        return dataclasses.replace(self, **changes)


def load_settings(
    environ: Mapping[str, str] | None = None,
    config_file: str | os.PathLike[str] | None = None,
) -> Settings:
    """Build Settings from defaults, the TOML file and GENOMSEQ_* variables (in that order)."""
    env = dict(os.environ if environ is None else environ)
    path = config_file or env.get(ENV_PREFIX + "CONFIG")
    toml_values: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                toml_values = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read configuration file {path}: {exc}") from exc
    known_env = {k for k in env if k.startswith(ENV_PREFIX)} - {ENV_PREFIX + "CONFIG"}
    settings, used_env = _build(Settings, toml_values, env, ENV_PREFIX, "")
    unknown = sorted(known_env - used_env - _FOREIGN_ENV)
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(unknown)}")
    return settings


# GENOMSEQ_* variables that are read by tools, not by Settings.
_FOREIGN_ENV = frozenset({"GENOMSEQ_TEST_DATABASE_URL", "GENOMSEQ_PYTHON", "GENOMSEQ_TEST_WORKERS"})


def _build(
    cls: type, toml_values: Mapping[str, Any], env: Mapping[str, str], prefix: str, where: str
) -> tuple[Any, set[str]]:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    used: set[str] = set()
    names = {f.name for f in dataclasses.fields(cls)}
    for key in toml_values:
        if key not in names:
            raise SettingsError(f"unknown setting {where}{key} in configuration file")
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        env_name = prefix + f.name.upper()
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            section = toml_values.get(f.name, {})
            if not isinstance(section, Mapping):
                raise SettingsError(f"[{where}{f.name}] must be a table")
            kwargs[f.name], sub_used = _build(
                hint, section, env, env_name + "_", f"{where}{f.name}."
            )
            used |= sub_used
            continue
        if env_name in env:
            used.add(env_name)
            kwargs[f.name] = _coerce(env[env_name], hint, env_name)
        elif f.name in toml_values:
            kwargs[f.name] = _coerce(toml_values[f.name], hint, where + f.name)
    return cls(**kwargs), used


def _coerce(value: Any, hint: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise SettingsError(f"{name} must be one of {', '.join(map(str, allowed))}")
        return value
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value in ("", None):
            return None
        return _coerce(value, args[0], name)
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else list(value)
        return tuple(str(i).strip() for i in items if str(i).strip())
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            lowered = str(value).strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if hint is Path:
            return Path(str(value))
        if hint in (int, float, str):
            return hint(value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{name}: cannot read {value!r} as {hint.__name__}") from exc
    raise SettingsError(f"{name}: unsupported setting type {hint!r}")
