"""Snapshots of consent and clinical facts per indexed individual.

Clinical facts (sex, age, diagnoses, phenotypes) are a snapshot: ``refresh_individuals`` asks
the clinical facts port for every indexed pseudonym and rewrites it, after every index build
and from ``genomseq beacon refresh``. Consent is live where the trust center's ConsentService
is wired (``ga4gh.beacon.storage.consent``: re-evaluated at query time); without it this
snapshot also takes the consent port's answer for today.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from sqlalchemy import Engine, text

from common.db import write_transaction
from ga4gh.beacon.core.ports import ClinicalFact, ClinicalFacts, ResearchConsent, TermHierarchy
from ga4gh.beacon.storage.sql import ANCESTOR_KIND

log = logging.getLogger("genomseq.beacon")
_CHUNK = 500


@dataclass
class RefreshStats:
    individuals: int = 0
    consented: int = 0
    with_facts: int = 0


def _age(birth: dt.date | None, today: dt.date) -> int | None:
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def refresh_individuals(engine: Engine, consent: ResearchConsent | None,
                        facts: ClinicalFacts | None, *, require_consent: bool = True,
                        today: dt.date | None = None, hpo: TermHierarchy | None = None,
                        update_consent: bool = True) -> RefreshStats:
    """Rewrite every individual's consent flag, sex, age and terms; returns counts.

    With an HPO hierarchy the ancestors of each recorded phenotype are stored too (kind
    ``phenotype-ancestor``), so a filter on a term finds its descendants by one lookup.
    With ``update_consent`` False the consent flags are left to the live consent table
    (``ga4gh.beacon.storage.consent``) and only clinical facts are rewritten."""
    today = today or dt.date.today()
    stats = RefreshStats()
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT pk, pseudonym FROM beacon_individual ORDER BY pk")).all()
    if consent is None and require_consent and update_consent:
        log.warning("beacon: no consent service is wired; every individual counts as not "
                    "consented (require_consent is on)")
    for i in range(0, len(rows), _CHUNK):
        chunk = rows[i:i + _CHUNK]
        pseudonyms = [r[1] for r in chunk]
        if not update_consent:
            permitted = set()
        elif consent is not None:
            permitted = consent.permitted(pseudonyms, today)
        else:
            permitted = set() if require_consent else set(pseudonyms)
        known: dict[str, ClinicalFact] = facts.facts(pseudonyms) if facts else {}
        now = int(time.time())
        with write_transaction(engine) as conn:
            for pk, pseudonym in chunk:
                fact = known.get(pseudonym, ClinicalFact())
                ok = pseudonym in permitted
                if update_consent:
                    conn.execute(text(
                        "UPDATE beacon_individual SET research_consent = :c, "
                        "consent_checked_at = :t, sex = :s, age_years = :a WHERE pk = :pk"),
                        {"c": ok, "t": now, "s": fact.sex, "a": _age(fact.birth_date, today),
                         "pk": pk})
                else:
                    conn.execute(text(
                        "UPDATE beacon_individual SET sex = :s, age_years = :a WHERE pk = :pk"),
                        {"s": fact.sex, "a": _age(fact.birth_date, today), "pk": pk})
                conn.execute(text("DELETE FROM beacon_individual_term WHERE individual_pk = :pk"),
                             {"pk": pk})
                terms = {(t, "diagnosis") for t in fact.diagnoses} | \
                    {(t, "phenotype") for t in fact.phenotypes}
                if fact.sex:
                    terms.add((fact.sex, "sex"))
                if hpo is not None:
                    recorded = {t for t, _k in terms}
                    for t in fact.phenotypes:
                        terms |= {(a, ANCESTOR_KIND) for a in hpo.ancestors(t)
                                  if a not in recorded}
                if terms:
                    conn.execute(text("INSERT INTO beacon_individual_term (individual_pk, term, "
                                      "kind) VALUES (:pk, :t, :k)"),
                                 [{"pk": pk, "t": t, "k": k} for t, k in sorted(terms)])
                stats.individuals += 1
                stats.consented += ok if update_consent else 0
                stats.with_facts += pseudonym in known
    return stats
