"""Token and passport validation throughput with cached keys (one thread = one core).

    PYTHONPATH=. python bench/passport/bench_validation.py [--seconds 3]

Measures the clearinghouse alone (no HTTP): RFC 9068 access tokens (RS256), passports with
4 visas whose verification results are cached (the common case: a client reuses its passport's
visas), passports with 4 never-seen visas (cold), and access tokens including the revocation
lookup in SQLite.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common.db import make_engine
from common.keys import KeyStore
from common.migrations import MigrationSet, upgrade
from ga4gh.passport.broker import Broker, BrokerConfig, BrokerKeys
from ga4gh.passport.core.clearinghouse import Clearinghouse, TrustedIssuer, VisaPolicy
from ga4gh.passport.ports import User
from ga4gh.passport.storage.jwks import PinnedKeys
from ga4gh.passport.storage.sql import PassportStore
from platform_provider.ports import Grant

ISSUER = "https://genomseq.bench"


class Grants:
    def __init__(self, n: int) -> None:
        now = datetime.now(UTC)
        self.grants = [Grant(f"g{i}", "u1", f"ds-{i}", "DUO:0000006", "a", now - timedelta(days=1),
                             now + timedelta(days=30)) for i in range(n)]

    def active_grants(self, subject: str, at: datetime) -> list[Grant]:
        return self.grants


def rate(name: str, fn: Callable[[int], None], items: int, seconds: float) -> float:
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(done % items)
        done += 1
    elapsed = time.perf_counter() - start
    per_s = done / elapsed
    print(f"{name:<48} {per_s:>10,.0f} /s   {1e6 / per_s:>8.1f} us each")
    return per_s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    keys = BrokerKeys(KeyStore(tmp / "keys"))
    grants = Grants(2)
    config = BrokerConfig(ISSUER, ISSUER, ISSUER + "/platform")
    broker = Broker(config, keys, lambda: grants)  # type: ignore[arg-type,return-value]
    trusted = [TrustedIssuer(ISSUER, (broker.jwks_uri,), frozenset({"visa", "passport"}))]
    policies = [VisaPolicy("ControlledAccessGrants", frozenset({ISSUER + "/platform"}),
                           frozenset({"dac"})),
                VisaPolicy("ResearcherStatus"), VisaPolicy("AffiliationAndRole")]
    house = Clearinghouse(own_issuer=ISSUER, audience=ISSUER,
                          keys=PinnedKeys(ISSUER, keys.public, trusted),
                          trusted=trusted, visa_policies=policies)
    user = User("u1", "ada", affiliation="faculty@uni.de", researcher_status="bona-fide")
    n = 500
    tokens = [broker.access_token(client_id="c", subject="u1", scope="user/*.rs",
                                  grant_type="authorization_code").token for _ in range(n)]
    visas = broker.visas(user)
    assert len(visas) == 4
    warm = [broker.passport("u1", "c", visas).token for _ in range(n)]
    cold = [broker.passport("u1", "c", broker.visas(user)).token for _ in range(n)]
    assert len(house.verify_passport(warm[0]).visas) == 4

    rate("access token (RS256, keys cached)", lambda i: house.verify_access_token(tokens[i]),
         n, args.seconds)
    rate("passport, 4 visas verified before (cache)",
         lambda i: house.verify_passport(warm[i]), n, args.seconds)
    cold_house = Clearinghouse(own_issuer=ISSUER, audience=ISSUER,
                               keys=PinnedKeys(ISSUER, keys.public, trusted),
                               trusted=trusted, visa_policies=policies, cache_size=1)
    rate("passport, 4 visas never seen (5 ES256 verifies)",
         lambda i: cold_house.verify_passport(cold[i]), n, args.seconds)

    engine = make_engine(f"sqlite:///{tmp / 'bench.sqlite'}")
    upgrade(engine, MigrationSet("passport", "ga4gh.passport.storage.migrations"))
    store = PassportStore(engine)
    minted = [broker.access_token(client_id="c", subject="u1", scope="user/*.rs",
                                  grant_type="authorization_code") for _ in range(n)]
    for m in minted:
        store.record_access_token(m.jti, "c", "u1", m.expires_at, None)
    db_house = Clearinghouse(own_issuer=ISSUER, audience=ISSUER,
                             keys=PinnedKeys(ISSUER, keys.public, trusted), trusted=trusted,
                             visa_policies=policies, is_revoked=store.access_token_revoked)
    rate("access token + revocation lookup (SQLite)",
         lambda i: db_house.verify_access_token(minted[i].token), n, args.seconds)


if __name__ == "__main__":
    main()
