"""Beacon v2 queries over the SQL index (authorization off: record granularity everywhere)."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.ga4gh.beacon.schema import assert_valid_entry_response, assert_valid_error

B = "/ga4gh/beacon/v2"


def get(client: FlaskClient, path: str, **params: Any) -> dict[str, Any]:
    resp = client.get(B + path, query_string=params)
    assert resp.status_code == 200, resp.get_json()
    assert resp.mimetype == "application/json"
    return resp.get_json()


def post(client: FlaskClient, path: str, params: dict[str, Any] | None = None,
         filters: list[Any] | None = None, granularity: str = "record",
         status: int = 200, **query: Any) -> dict[str, Any]:
    body = {"meta": {"apiVersion": "v2.0.0"},
            "query": {"requestParameters": params or {}, "filters": filters or [],
                      "requestedGranularity": granularity, **query}}
    resp = client.post(B + path, json=body)
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()


def variant_ids(doc: dict[str, Any]) -> set[str]:
    return {r["variantInternalId"] for rs in doc["response"]["resultSets"] for r in rs["results"]}


def test_sequence_query_is_zero_based(indexed, client) -> None:
    # VCF POS 1000 is 0-based start 999.
    doc = post(client, "/g_variants", {"referenceName": "1", "start": [999],
                                       "referenceBases": "G", "alternateBases": "A"})
    assert_valid_entry_response(doc, "g_variants")
    assert doc["responseSummary"] == {"exists": True, "numTotalResults": 3}
    assert variant_ids(doc) == {"GRCh38:1:999:G:A"}
    miss = post(client, "/g_variants", {"referenceName": "1", "start": [1000],
                                        "alternateBases": "A"}, granularity="boolean")
    assert miss["responseSummary"] == {"exists": False}


@pytest.mark.parametrize("name", ["chr1", "1", "NC_000001.11", "refseq:NC_000001.11",
                                  "CM000663.2"])
def test_reference_name_spellings(indexed, client, name) -> None:
    doc = get(client, "/g_variants", referenceName=name, start="999", alternateBases="A",
              requestedGranularity="count")
    assert doc["responseSummary"]["exists"] is True
    assert_valid_entry_response(doc, "g_variants")


def test_grch37_accession_implies_other_assembly(indexed, client) -> None:
    doc = get(client, "/g_variants", referenceName="NC_000001.10", start="999",
              alternateBases="A")
    assert doc["responseSummary"]["exists"] is False
    resp = client.get(B + "/g_variants", query_string={
        "referenceName": "NC_000001.10", "start": "999", "alternateBases": "A",
        "assemblyId": "GRCh38"})
    assert resp.status_code == 400
    assert_valid_error(resp.get_json(), 400)


def test_refget_digest_reference_name(indexed, client, ctx, tmp_path) -> None:
    from ga4gh.beacon.storage.loader import set_contig_digests

    fasta = tmp_path / "ref.fa"
    fasta.write_text(">chr1\n" + "ACGT" * 50 + "\n")
    pysam_index(fasta)
    assert set_contig_digests(ctx.engine, str(fasta), "GRCh38") == 1
    import base64
    import hashlib
    seq = ("ACGT" * 50).encode()
    sq = "SQ." + base64.urlsafe_b64encode(hashlib.sha512(seq).digest()[:24]).decode()
    md5 = hashlib.md5(seq).hexdigest()
    for name in (sq, "ga4gh:" + sq, md5):
        doc = get(client, "/g_variants", referenceName=name, start="999", alternateBases="A")
        assert doc["responseSummary"]["exists"] is True, name
    resp = client.get(B + "/g_variants", query_string={
        "referenceName": "SQ." + "A" * 32, "start": "999", "alternateBases": "A"})
    assert resp.status_code == 400


def run_cli(app, *args: str):
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from config.cli import cli

    return CliRunner().invoke(cli, list(args), obj=ScriptInfo(create_app=lambda: app))


def pysam_index(fasta) -> None:
    import pysam
    pysam.faidx(str(fasta))


def test_wildcard_and_multiallelic(indexed, client) -> None:
    doc = post(client, "/g_variants", {"referenceName": "chr1", "start": [3999],
                                       "alternateBases": "N"})
    assert variant_ids(doc) == {"GRCh38:1:3999:A:C", "GRCh38:1:3999:A:T"}
    cases = {r["variantInternalId"]: [c["individualId"] for c in r["caseLevelData"]]
             for rs in doc["response"]["resultSets"] for r in rs["results"]}
    assert cases == {"GRCh38:1:3999:A:C": ["P2"], "GRCh38:1:3999:A:T": ["P3"]}
    assert_valid_entry_response(doc, "g_variants")


def test_range_query_and_variant_type(indexed, client) -> None:
    doc = post(client, "/g_variants", {"referenceName": "1", "start": [0], "end": [5000]})
    assert variant_ids(doc) == {"GRCh38:1:999:G:A", "GRCh38:1:1999:C:T", "GRCh38:1:3999:A:C",
                                "GRCh38:1:3999:A:T", "GRCh38:1:4999:AT:A"}
    indel = post(client, "/g_variants", {"referenceName": "1", "start": [0], "end": [10000],
                                         "variantType": "INDEL"})
    assert variant_ids(indel) == {"GRCh38:1:4999:AT:A"}
    # The 10 kb deletion overlaps a window in its middle (found through its UCSC bin).
    sv = post(client, "/g_variants", {"referenceName": "2", "start": [15000], "end": [15001],
                                      "variantType": "DEL"})
    assert variant_ids(sv) == {"GRCh38:2:10000:N:<DEL>"}
    rec = sv["response"]["resultSets"][0]["results"][0]
    assert rec["variation"]["variantType"] == "DEL"
    assert rec["variation"]["location"]["interval"]["end"]["value"] == 20000
    assert_valid_entry_response(sv, "g_variants")
    long = post(client, "/g_variants", {"referenceName": "1", "start": [0], "end": [10000],
                                        "variantMinLength": 1})
    assert variant_ids(long) == variant_ids(doc)
    only_indel = post(client, "/g_variants", {"referenceName": "1", "start": [0],
                                              "end": [10000], "variantMaxLength": 1,
                                              "variantType": "INDEL"})
    assert variant_ids(only_indel) == {"GRCh38:1:4999:AT:A"}  # 1 bp deletion
    big = get(client, "/g_variants", referenceName="2", start="0", end="30000",
              variantMinLength="5000", requestedGranularity="count")
    assert big["responseSummary"]["numTotalResults"] == 1
    cnv = post(client, "/g_variants", {"referenceName": "2", "start": [0], "end": [30000],
                                       "variantType": "EFO:0030067"}, granularity="count")
    assert cnv["responseSummary"]["numTotalResults"] == 1


def test_bracket_query(indexed, client) -> None:
    hit = post(client, "/g_variants", {"referenceName": "2", "start": [9000, 11000],
                                       "end": [19000, 21000]})
    assert variant_ids(hit) == {"GRCh38:2:10000:N:<DEL>"}
    miss = post(client, "/g_variants", {"referenceName": "2", "start": [10001, 11000],
                                        "end": [19000, 21000]}, granularity="boolean")
    assert miss["responseSummary"]["exists"] is False


def test_gene_query_needs_and_uses_gene_table(indexed, client, tmp_path) -> None:
    resp = client.get(B + "/g_variants", query_string={"geneId": "TESTG"})
    assert resp.status_code == 400
    assert "gene" in resp.get_json()["error"]["errorMessage"]
    table = tmp_path / "genes.bed"
    table.write_text("chr1\t1500\t2500\tTESTG\n")
    result = run_cli(indexed, "beacon", "genes", str(table))
    assert result.exit_code == 0, result.output
    doc = get(client, "/g_variants", geneId="testg", requestedGranularity="record")
    assert variant_ids(doc) == {"GRCh38:1:1999:C:T"}


def test_consent_exclusion(indexed, client) -> None:
    # Only X1 (no research consent) carries chr1:3000 T>G: not even its existence shows.
    doc = post(client, "/g_variants", {"referenceName": "1", "start": [2999],
                                       "alternateBases": "G"})
    assert doc["responseSummary"] == {"exists": False, "numTotalResults": 0}
    common = post(client, "/g_variants", {"referenceName": "1", "start": [999],
                                          "alternateBases": "A"})
    carriers = {c["individualId"] for rs in common["response"]["resultSets"]
                for r in rs["results"] for c in r["caseLevelData"]}
    assert "X1" not in carriers
    assert carriers == {"P1", "P2", "P3", "P4", "P5", "P6", "R1", "R2", "R3", "C1"}
    inds = post(client, "/individuals", {}, granularity="count")
    assert inds["responseSummary"]["numTotalResults"] == 10


def test_filters(indexed, client) -> None:
    def count(filters: list[Any], params: dict[str, Any] | None = None) -> int:
        doc = post(client, "/individuals", params, filters, granularity="count")
        assert_valid_entry_response(doc, "individuals")
        return doc["responseSummary"]["numTotalResults"]

    assert count(["NCIT:C16576"]) == 4  # female, X1 excluded
    assert count(["HP:0001250"]) == 2
    # HP:0012638 (abnormal nervous system physiology) is an ancestor of seizure (HP:0001250)
    assert count(["HP:0012638"]) == 2
    assert count([{"id": "HP:0012638", "includeDescendantTerms": False}]) == 0
    assert count([{"id": "HP:0001250", "includeDescendantTerms": False}]) == 2
    assert count([{"id": "phenotype", "operator": "=", "value": "HP:0000118"}]) == 2
    assert count(["ICD10GM:E11"]) == 2  # E11.9 and E11.0 under the category
    assert count([{"id": "ICD10GM:E11", "includeDescendantTerms": False}]) == 0
    assert count(["ICD10GM:E11.9", "NCIT:C16576"]) == 1
    assert count([{"id": "age", "operator": ">=", "value": "40"}]) == 2  # P1 66, P3 41
    assert count([{"id": "age", "operator": "<", "value": "P40Y"}]) == 1
    assert count([{"id": "sex", "operator": "!", "value": "female"}]) == 6
    # Filters combine with variant parameters: carriers of chr1:1000 G>A who are female.
    assert count(["NCIT:C16576"], {"referenceName": "1", "start": [999],
                                   "alternateBases": "A"}) == 4
    doc = post(client, "/g_variants", {"referenceName": "1", "start": [1999],
                                       "alternateBases": "T"}, ["NCIT:C20197"],
               granularity="boolean")
    assert doc["responseSummary"]["exists"] is False


def test_filtering_terms_lists_indexed_terms(indexed, client) -> None:
    from tests.ga4gh.beacon.schema import framework_errors

    doc = get(client, "/filtering_terms")
    assert not framework_errors(doc, "responses/beaconFilteringTermsResponse.json")
    ids = {t["id"] for t in doc["response"]["filteringTerms"]}
    labels = {t["id"]: t.get("label") for t in doc["response"]["filteringTerms"]}
    assert labels["HP:0001250"] == "Seizure"
    assert "HP:0012638" not in ids  # implied ancestors are not listed
    assert {"NCIT:C16576", "NCIT:C20197", "HP:0001250", "ICD10GM:E11.9", "ICD10GM:E11.0",
            "ICD10GM:I10", "age"} <= ids
    # X1's terms are not listed unless somebody consenting has them.
    assert all(t["scopes"] == ["individuals"] for t in doc["response"]["filteringTerms"])


@pytest.mark.parametrize(("params", "message"), [
    ({"referenceName": "chrZ", "start": "1", "alternateBases": "A"}, "unknown referenceName"),
    ({"referenceName": "1", "start": "200", "end": "100"}, "must be less than end"),
    ({"referenceName": "1", "start": "1", "alternateBases": "A", "assemblyId": "GRCh99"},
     "unknown assemblyId"),
    ({"filters": "FOO:123"}, "unknown filter"),
    ({"filters": "HP:12"}, "unknown filter"),
    ({"filters": "HP:9999999"}, "not a term of the loaded HPO release"),
    ({"referenceName": "1", "start": "-5", "alternateBases": "A"}, "must be >= 0"),
    ({"referenceName": "1", "start": "1"}, "needs alternateBases"),
    ({"referenceName": "1", "start": "1", "alternateBases": "XYZ"}, "IUPAC"),
    ({"referenceName": "1", "start": "1", "end": "5", "variantType": "FOO"}, "variantType"),
    ({"colour": "blue"}, "unknown query parameter"),
    ({"filters": ",".join(["NCIT:C16576"] * 33)}, "at most 32 filters"),
    ({"requestedGranularity": "everything"}, "requestedGranularity"),
])
def test_bad_input_is_beacon_400(indexed, client, params, message) -> None:
    resp = client.get(B + "/g_variants", query_string=params)
    assert resp.status_code == 400
    doc = resp.get_json()
    assert_valid_error(doc, 400)
    assert message in doc["error"]["errorMessage"]


def test_bad_post_bodies(indexed, client) -> None:
    resp = client.post(B + "/g_variants", data="{not json", content_type="application/json")
    assert resp.status_code == 400
    assert_valid_error(resp.get_json(), 400)
    resp = client.post(B + "/g_variants", json={"meta": {}, "query": {
        "requestParameters": {"referenceName": "1", "start": [5], "end": [1]}}})
    assert resp.status_code == 400
    assert_valid_error(resp.get_json(), 400)
    resp = client.post(B + "/individuals", json={"query": {"filters": [
        {"id": "age", "operator": "~", "value": "3"}]}})
    assert resp.status_code == 400


def test_routing_errors_are_beacon_errors(client) -> None:
    resp = client.get(B + "/nonsense")
    assert resp.status_code == 404
    assert_valid_error(resp.get_json(), 404)
    resp = client.delete(B + "/g_variants")
    assert resp.status_code == 405
    assert_valid_error(resp.get_json(), 405)
    resp = client.get(B + "/analyses/x/individuals")
    assert resp.status_code == 404
    assert_valid_error(resp.get_json(), 404)


GFF3 = """##gff-version 3
##sequence-region chr1 1 248956422
chr1\tHAVANA\tgene\t1501\t2500\t.\t+\t.\tID=gene:ENSG01;Name=TESTG;biotype=protein_coding
chr1\tHAVANA\tmRNA\t1501\t2500\t.\t+\t.\tID=tx:1;Parent=gene:ENSG01;Name=TESTG-201
chr1\tHAVANA\tncRNA_gene\t3990\t4010\t.\t-\t.\tID=gene:ENSG02;Name=RNA%2CX1
chr1\tHAVANA\tgene\t9001\t9100\t.\t+\t.\tID=gene:ENSG03
##FASTA
>chr1
ACGT
"""


def test_gene_table_from_gzipped_gff3(indexed, client, tmp_path) -> None:
    import gzip

    path = tmp_path / "genes.gff3.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(GFF3)
    result = run_cli(indexed, "beacon", "genes", str(path), "--assembly", "hg38")
    assert result.exit_code == 0, result.output
    # Two gene features with a name; the transcript and the nameless gene are not genes here.
    assert "loaded 2 genes for GRCh38" in result.output
    doc = get(client, "/g_variants", geneId="TESTG", requestedGranularity="record")
    assert variant_ids(doc) == {"GRCh38:1:1999:C:T"}  # GFF3 1501-2500 = 0-based [1500, 2500)
    # Percent-encoded values are decoded; the multi-allelic site at 4000 lies in RNA,X1.
    doc = get(client, "/g_variants", geneId="RNA,X1", requestedGranularity="record")
    assert variant_ids(doc) == {"GRCh38:1:3999:A:C", "GRCh38:1:3999:A:T"}
    # Loading again replaces the table of that assembly.
    gtf = tmp_path / "genes.gtf"
    gtf.write_text('chr1\tENSEMBL\tgene\t990\t1010\t.\t+\t.\tgene_id "ENSG9"; '
                   'gene_name "OTHER"; gene_type "lncRNA";\n'
                   'chr1\tENSEMBL\texon\t990\t1010\t.\t+\t.\tgene_id "ENSG9"; '
                   'gene_name "OTHER";\n')
    result = run_cli(indexed, "beacon", "genes", str(gtf))
    assert result.exit_code == 0 and "loaded 1 genes" in result.output, result.output
    doc = get(client, "/g_variants", geneId="OTHER", requestedGranularity="record")
    assert variant_ids(doc) == {"GRCh38:1:999:G:A"}
    resp = client.get(B + "/g_variants", query_string={"geneId": "TESTG"})
    assert resp.status_code == 400


def test_gene_table_refusals(indexed, client, tmp_path) -> None:
    good = tmp_path / "good.bed"
    good.write_text("chr1\t1500\t2500\tTESTG\n")
    assert run_cli(indexed, "beacon", "genes", str(good)).exit_code == 0
    for body, message in (("chr1\t2500\t1500\tBAD\n", "line 1: empty or negative"),
                          ("# header\nchr1\tx\t10\tBAD\n", "line 2: start and end"),
                          ("chr1\tsrc\tgene\t0\t10\t.\t+\t.\tName=BAD\n", "line 1: empty")):
        bad = tmp_path / "bad.bed"
        bad.write_text(body)
        result = run_cli(indexed, "beacon", "genes", str(bad))
        assert result.exit_code != 0 and message in result.output, result.output
    # A refused file leaves the loaded table as it was.
    doc = get(client, "/g_variants", geneId="TESTG", requestedGranularity="record")
    assert variant_ids(doc) == {"GRCh38:1:1999:C:T"}
    result = run_cli(indexed, "beacon", "genes", str(good), "--assembly", "hg99")
    assert result.exit_code != 0
