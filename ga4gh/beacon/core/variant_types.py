"""``variantType`` of Beacon v2 queries (default model ``requestParameters.json``) and how the
index classifies VCF alleles (VCF 4.3 section 1.6.1 REF/ALT, section 5 symbolic alleles).

The index stores one storage class per allele; a query's ``variantType`` stands for one or
more classes. EFO copy-number terms (EFO:0030067 ... EFO:0030073) are the spec's examples.
"""

from __future__ import annotations

from common.errors import InvalidInput

# Storage classes: SNP, MNP, DEL, INS, DELINS (small, sequence-resolved), and for symbolic or
# long alleles (>= SV_MIN_LENGTH bp) DEL, INS, DUP, CNV, INV, BND with the sv flag set.
SV_MIN_LENGTH = 50

_LOSS = ("EFO:0030067", "EFO:0030068", "EFO:0030069")
_GAIN = ("EFO:0030070", "EFO:0030071", "EFO:0030072", "EFO:0030073")

# variantType (upper-cased) -> (storage classes, sv flag or None for either)
_QUERY_TYPES: dict[str, tuple[tuple[str, ...], bool | None]] = {
    "SNP": (("SNP",), False),
    "SNV": (("SNP",), False),
    "MNP": (("MNP",), False),
    "MNV": (("MNP",), False),
    "INDEL": (("DEL", "INS", "DELINS"), False),
    "DEL": (("DEL",), None),
    "INS": (("INS",), None),
    "DUP": (("DUP",), True),
    "INV": (("INV",), True),
    "BND": (("BND",), True),
    "CNV": (("DEL", "DUP", "CNV"), True),
    "SV": (("DEL", "INS", "DUP", "CNV", "INV", "BND"), True),
    **{t: (("DEL", "CNV"), True) for t in _LOSS},
    **{t: (("DUP", "CNV"), True) for t in _GAIN},
}


def query_classes(variant_type: str) -> tuple[tuple[str, ...], bool | None]:
    """Storage classes and sv flag a query's variantType stands for; 400 if unknown."""
    found = _QUERY_TYPES.get(variant_type.strip().upper())
    if found is None:
        raise InvalidInput(
            f"unsupported variantType {variant_type!r}: use one of "
            + ", ".join(sorted(k for k in _QUERY_TYPES if ":" not in k))
            + " or an EFO copy-number term (EFO:0030067 ... EFO:0030073)"
        )
    return found


def classify(ref: str, alt: str, svtype: str | None) -> tuple[str, bool]:
    """Storage class and sv flag of one VCF allele."""
    if alt.startswith("<"):
        kind = alt.strip("<>").split(":", 1)[0].upper()
        if kind in ("DEL", "INS", "DUP", "INV", "CNV"):
            return kind, True
        # e.g. <DEL:ME:ALU> is caught above; other symbols (<*>, <NON_REF>) use INFO/SVTYPE.
        return (svtype or "CNV").upper(), True
    if "[" in alt or "]" in alt or alt.startswith(".") or alt.endswith("."):
        return "BND", True
    if len(ref) == len(alt):
        return ("SNP" if len(ref) == 1 else "MNP"), False
    longest = max(len(ref), len(alt))
    sv = longest - 1 >= SV_MIN_LENGTH
    if len(alt) < len(ref) and ref.startswith(alt):
        return "DEL", sv
    if len(ref) < len(alt) and alt.startswith(ref):
        return "INS", sv
    return "DELINS", sv


def display_type(storage_class: str, sv: bool) -> str:
    """The ``variantType`` shown in records: SNP, MNP, INDEL or the SV class."""
    if not sv and storage_class in ("DEL", "INS", "DELINS"):
        return "INDEL"
    return storage_class
