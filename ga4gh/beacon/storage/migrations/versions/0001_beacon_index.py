"""Beacon variant index: datasets, contigs, individuals and their terms, analyses, biosamples,
one row per variant allele and carrier, gene table, query budget.

Revision ID: beacon_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "beacon_0001"
down_revision = None
branch_labels = None
depends_on = None

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "beacon_dataset",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(255), nullable=False, unique=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    # Reference sequences seen in indexed files, with refget digests when a FASTA was given.
    op.create_table(
        "beacon_contig",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("assembly", sa.String(16), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=True),
        sa.Column("md5", sa.String(32), nullable=True),
        sa.Column("sq_digest", sa.String(40), nullable=True),
        sa.UniqueConstraint("assembly", "name", name="uq_beacon_contig"),
    )
    op.create_index("ix_beacon_contig_md5", "beacon_contig", ["md5"])
    op.create_index("ix_beacon_contig_sq", "beacon_contig", ["sq_digest"])
    # Donors per dataset by pseudonym; consent and clinical facts are snapshots refreshed by
    # `genomseq beacon refresh` (and after every index run).
    op.create_table(
        "beacon_individual",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("dataset_pk", sa.Integer(), sa.ForeignKey("beacon_dataset.pk",
                  ondelete="CASCADE"), nullable=False),
        sa.Column("pseudonym", sa.String(255), nullable=False),
        sa.Column("research_consent", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("consent_checked_at", sa.BigInteger(), nullable=True),
        sa.Column("sex", sa.String(16), nullable=True),
        sa.Column("age_years", sa.Integer(), nullable=True),
        sa.UniqueConstraint("dataset_pk", "pseudonym", name="uq_beacon_individual"),
    )
    op.create_index("ix_beacon_individual_pseudonym", "beacon_individual", ["pseudonym"])
    op.create_table(
        "beacon_individual_term",
        sa.Column("individual_pk", sa.Integer(), sa.ForeignKey("beacon_individual.pk",
                  ondelete="CASCADE"), primary_key=True),
        sa.Column("term", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(24), nullable=False),
    )
    op.create_index("ix_beacon_term", "beacon_individual_term", ["term", "individual_pk"])
    # One analysis per catalogued VCF/BCF.
    op.create_table(
        "beacon_analysis",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(255), nullable=False, unique=True),
        sa.Column("dataset_pk", sa.Integer(), sa.ForeignKey("beacon_dataset.pk",
                  ondelete="CASCADE"), nullable=False),
        sa.Column("pipeline_name", sa.String(255), nullable=False),
        sa.Column("analysis_date", sa.String(10), nullable=False),
        sa.Column("indexed_at", sa.BigInteger(), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.create_table(
        "beacon_biosample",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("dataset_pk", sa.Integer(), sa.ForeignKey("beacon_dataset.pk",
                  ondelete="CASCADE"), nullable=False),
        sa.Column("analysis_pk", sa.Integer(), sa.ForeignKey("beacon_analysis.pk",
                  ondelete="CASCADE"), nullable=False),
        sa.Column("individual_pk", sa.Integer(), sa.ForeignKey("beacon_individual.pk",
                  ondelete="CASCADE"), nullable=False),
    )
    op.create_index("ix_beacon_biosample_individual", "beacon_biosample", ["individual_pk"])
    op.create_index("ix_beacon_biosample_analysis", "beacon_biosample", ["analysis_pk"])
    # One row per variant allele and carrier. No foreign keys: the bulk loader owns
    # consistency (rows of an analysis are deleted with it) and FK checks would halve the
    # load rate. pos is 0-based, end_pos exclusive; bin is the UCSC binning scheme bin.
    op.create_table(
        "beacon_variant",
        sa.Column("pk", _PK, primary_key=True, autoincrement=True),
        sa.Column("dataset_pk", sa.Integer(), nullable=False),
        sa.Column("analysis_pk", sa.Integer(), nullable=False),
        sa.Column("individual_pk", sa.Integer(), nullable=False),
        sa.Column("biosample_pk", sa.Integer(), nullable=False),
        sa.Column("contig_pk", sa.Integer(), nullable=False),
        sa.Column("pos", sa.BigInteger(), nullable=False),
        sa.Column("end_pos", sa.BigInteger(), nullable=False),
        sa.Column("bin", sa.Integer(), nullable=False),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column("alt", sa.Text(), nullable=False),
        sa.Column("vclass", sa.String(8), nullable=False),
        sa.Column("sv", sa.Boolean(), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("vid", sa.BigInteger(), nullable=False),
        sa.Column("zygosity", sa.String(4), nullable=False),
    )
    for name, cols in VARIANT_INDEXES.items():
        op.create_index(name, "beacon_variant", cols)
    op.create_table(
        "beacon_gene",
        sa.Column("assembly", sa.String(16), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("chrom", sa.String(255), nullable=False),
        sa.Column("start_pos", sa.BigInteger(), nullable=False),
        sa.Column("end_pos", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_beacon_gene", "beacon_gene", ["assembly", "symbol"])
    op.create_table(
        "beacon_query_budget",
        sa.Column("caller", sa.String(64), primary_key=True),
        sa.Column("window_start", sa.BigInteger(), primary_key=True),
        sa.Column("used", sa.Integer(), nullable=False),
    )


# Kept in step with ga4gh.beacon.storage.sql.VARIANT_INDEXES (the loader drops and rebuilds
# them around a full rebuild).
VARIANT_INDEXES = {
    # sequence and bracket queries: contig + position
    "ix_beacon_variant_pos": ["contig_pk", "pos"],
    # range queries: contig + UCSC bin + position
    "ix_beacon_variant_bin": ["contig_pk", "bin", "pos"],
    "ix_beacon_variant_individual": ["individual_pk"],
    "ix_beacon_variant_analysis": ["analysis_pk"],
}


def downgrade() -> None:
    for table in ("beacon_query_budget", "beacon_gene", "beacon_variant", "beacon_biosample",
                  "beacon_analysis", "beacon_individual_term", "beacon_individual",
                  "beacon_contig", "beacon_dataset"):
        op.drop_table(table)
