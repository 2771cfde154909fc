"""Streaming Crypt4GH decryption (GA4GH Crypt4GH file format v1, sections 3.2-3.4: header
packets X25519 + ChaCha20-Poly1305, data in 64 KiB ChaCha20-IETF-Poly1305 segments) with
SHA-256, size, format detection and read counting in the same pass.

Plaintext is written only for files the catalogue indexes (aligned reads, variant calls) and
only into the intake's work directory, which the intake removes once the file is registered.
FASTQ and BED files are verified without ever touching disk in plaintext.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import multiprocessing
import os
import shutil
import subprocess
import time
import zlib
from pathlib import Path
from typing import Any

import pysam
from crypt4gh import CIPHER_SEGMENT_SIZE, SEGMENT_SIZE, header, sodium
from crypt4gh.keys import get_private_key
from crypt4gh.keys.c4gh import encode_private_key

from ga4gh.grz.core.errors import DecryptionFailed, FileUnusable
from ga4gh.grz.core.formats import SNIFF_BYTES, FileFormat, detect_format
from ga4gh.grz.ports import DecryptedFile

# Declared types whose plaintext the catalogue needs.
KEEP_PLAINTEXT = frozenset({"bam", "cram", "vcf"})
_EXT = {FileFormat.bam: ".bam", FileFormat.cram: ".cram", FileFormat.vcf: ".vcf"}


def load_private_key(path: Path, passphrase: str = "") -> bytes:
    """The 32-byte Crypt4GH secret key stored at ``path``."""
    return bytes(get_private_key(str(path), lambda: passphrase))


def generate_keypair(private_path: Path, public_path: Path, comment: str = "GRZ") -> bytes:
    """Write a new Crypt4GH key pair (private key mode 0600); returns the public key bytes."""
    import base64

    sk = os.urandom(32)
    pk = bytes(sodium.derive_pk(sk))
    private_path.parent.mkdir(parents=True, exist_ok=True)
    # Create with 0600 from the start: the secret never exists with wider permissions.
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(b"-----BEGIN CRYPT4GH PRIVATE KEY-----\n")
        fh.write(base64.b64encode(_encode_unencrypted(sk, comment)))
        fh.write(b"\n-----END CRYPT4GH PRIVATE KEY-----\n")
    public_path.write_bytes(
        b"-----BEGIN CRYPT4GH PUBLIC KEY-----\n"
        + base64.b64encode(pk)
        + b"\n-----END CRYPT4GH PUBLIC KEY-----\n"
    )
    return pk


def _encode_unencrypted(sk: bytes, comment: str) -> bytes:
    # crypt4gh prints a warning to stderr for an unencrypted key; the file's 0600 mode and the
    # data directory protect it, as for the other server keys in common/keys.py.
    import contextlib
    import io
    import sys

    with contextlib.redirect_stderr(io.StringIO()) if sys.stderr else contextlib.nullcontext():
        return bytes(encode_private_key(sk, None, comment.encode()))


class _FastqCounter:
    """Counts FASTQ records in a (multi-member) gzip stream as it passes by."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj(wbits=31)
        self.lines = 0
        self.gzipped = True
        self._last = b"\n"

    def feed(self, data: bytes) -> None:
        while data:
            out = self._d.decompress(data)
            self.lines += out.count(b"\n")
            if out:
                self._last = out[-1:]
            if self._d.eof:
                data = self._d.unused_data
                self._d = zlib.decompressobj(wbits=31)
            else:
                data = b""

    @property
    def records(self) -> int:
        lines = self.lines + (0 if self._last == b"\n" else 1)
        return lines // 4


def samtools() -> str | None:
    """The samtools executable if installed: its htslib usually links libdeflate and indexes
    BAM about twice as fast as pysam's bundled htslib (zlib) on the benchmark machine."""
    return shutil.which("samtools")


def build_index(path: Path, threads: int = 0) -> None:
    """Write the .bai/.crai beside a BAM/CRAM (samtools if installed, else pysam); ``threads``
    extra threads inflate BGZF blocks while the main one walks the records."""
    exe = samtools()
    extra = _threads(threads)
    if exe is None:
        pysam.index(*extra, str(path))
        return
    done = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [exe, "index", *extra, str(path)], capture_output=True, check=False
    )
    if done.returncode != 0:
        raise pysam.SamtoolsError(done.stderr.decode(errors="replace").strip() or "index failed")


def _threads(threads: int) -> list[str]:
    return ["-@", str(threads)] if threads > 0 else []


def _index_from(fifo: str, index_path: str, threads: int) -> None:
    pysam.index(*_threads(threads), fifo, index_path)


class _Indexer:
    """Builds a BAM index from the plaintext as it is decrypted, in another process.

    The BAM index build is the slowest part of the intake (htslib inflates every BGZF block);
    running it beside the decryption can hide the decryption's time when a core is idle. With
    samtools installed it reads the plaintext on stdin; otherwise a forked process runs pysam
    on a FIFO (pysam keeps the GIL while htslib reads, so a thread would block the writer).
    On by default (settings ``index_while_decrypting``, ``index_threads``): on the shared
    2-core benchmark machine it shortened the median BAM intake 1.2-3x for 16-19 % more CPU
    (docs/performance.md).
    """

    def __init__(self, workdir: Path, index_path: Path, threads: int = 0) -> None:
        self.index_path = index_path
        self.fifo: Path | None = None
        self.fd: int | None = None
        self.popen: subprocess.Popen[bytes] | None = None
        self.proc: Any = None
        exe = samtools()
        if exe is not None:
            self.popen = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [exe, "index", *_threads(threads), "-o", str(index_path), "-"],
                stdin=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            assert self.popen.stdin is not None
            self.fd = self.popen.stdin.fileno()
        else:
            self._start_fork(workdir, index_path, threads)
        if self.fd is not None:
            with contextlib.suppress(OSError):
                # A larger pipe (Linux F_SETPIPE_SZ) means fewer switches between the two.
                fcntl.fcntl(self.fd, 1031, 1 << 20)

    def _start_fork(self, workdir: Path, index_path: Path, threads: int) -> None:
        self.fifo = workdir / (index_path.name + ".fifo")
        os.mkfifo(self.fifo, 0o600)
        ctx = multiprocessing.get_context("fork")
        self.proc = ctx.Process(target=_index_from, args=(str(self.fifo), str(index_path), threads))
        self.proc.start()
        # Open the write end once the child has opened the read end (or give up if it died).
        deadline = time.monotonic() + 30
        while self.fd is None and self.proc.is_alive() and time.monotonic() < deadline:
            try:
                self.fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
                os.set_blocking(self.fd, True)
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    raise
                time.sleep(0.002)

    def feed(self, data: memoryview) -> None:
        if self.fd is None:
            return
        try:
            view = data
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
        except BrokenPipeError:
            self._close_fd()  # the indexer stopped (not a BAM): index the file afterwards

    def _close_fd(self) -> None:
        if self.popen is not None:
            if self.popen.stdin is not None and not self.popen.stdin.closed:
                with contextlib.suppress(BrokenPipeError):
                    self.popen.stdin.close()
            self.fd = None
        elif self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _wait(self) -> int | None:
        if self.popen is not None:
            return self.popen.wait()
        self.proc.join()
        return int(self.proc.exitcode) if self.proc.exitcode is not None else None

    def finish(self) -> bool:
        """Wait for the index; True if it was built."""
        self._close_fd()
        code = self._wait()
        if self.fifo is not None:
            self.fifo.unlink(missing_ok=True)
        ok = code == 0 and self.index_path.is_file()
        if not ok:
            self.index_path.unlink(missing_ok=True)
        return ok

    def abort(self) -> None:
        self._close_fd()
        if self.popen is not None:
            self.popen.kill()
        elif self.proc.is_alive():
            self.proc.terminate()
        self._wait()
        if self.fifo is not None:
            self.fifo.unlink(missing_ok=True)
        self.index_path.unlink(missing_ok=True)


class Crypt4GHFileProcessor:
    """FileProcessor: decrypt with the GRZ's secret key while hashing and inspecting."""

    def __init__(
        self, secret_key: bytes, *, index_while_decrypting: bool = False, index_threads: int = 0
    ) -> None:
        self._keys = [(0, secret_key, None)]
        self.index_while_decrypting = index_while_decrypting
        # Extra BGZF inflate threads for the index build (samtools/htslib ``-@``).
        self.index_threads = index_threads

    def process(self, encrypted: Path, declared_type: str, workdir: Path) -> DecryptedFile:
        sha = hashlib.sha256()
        size = 0
        head = bytearray()
        fastq = _FastqCounter() if declared_type == "fastq" else None
        keep = declared_type in KEEP_PLAINTEXT
        target = workdir / ("p" + hashlib.sha256(str(encrypted).encode()).hexdigest()[:16])
        out = open(target, "wb") if keep else None  # noqa: SIM115 (closed in finally)
        indexer: _Indexer | None = None
        # Decided on the first plaintext segment: only a real BAM gets a concurrent indexer.
        want_indexer = keep and declared_type == "bam" and self.index_while_decrypting
        try:
            with open(encrypted, "rb") as infile:
                try:
                    session_keys, edit_list = header.deconstruct(infile, self._keys)
                except Exception as exc:  # crypt4gh raises bare ValueErrors and others
                    if "No supported encryption method" in str(exc):
                        raise DecryptionFailed(
                            "not encrypted to this genome data center's key"
                        ) from None
                    raise DecryptionFailed(f"cannot read the Crypt4GH header ({exc})") from None
                if not session_keys:
                    raise DecryptionFailed("not encrypted to this genome data center's key")
                if edit_list is not None:
                    raise DecryptionFailed("Crypt4GH edit lists are not accepted for submissions")
                segment = bytearray(SEGMENT_SIZE)
                cipher = bytearray(CIPHER_SEGMENT_SIZE)
                view = memoryview(cipher)
                key = session_keys[0]
                while n := infile.readinto(cipher):
                    try:
                        plen = sodium.chacha20poly1305_decrypt(segment, view[:n], key)
                    except Exception:
                        plen = self._other_keys(segment, bytes(view[:n]), session_keys)
                    chunk = memoryview(segment)[:plen]
                    sha.update(chunk)
                    size += plen
                    if len(head) < SNIFF_BYTES:
                        head += chunk[: SNIFF_BYTES - len(head)]
                    if out is not None:
                        out.write(chunk)
                    if want_indexer:
                        want_indexer = False
                        if detect_format(bytes(chunk)) is FileFormat.bam:
                            indexer = _Indexer(
                                workdir,
                                target.with_name(target.name + ".bam.bai"),
                                self.index_threads,
                            )
                    if indexer is not None:
                        indexer.feed(chunk)
                    if fastq is not None:
                        fastq.feed(bytes(chunk))
        except BaseException:
            target.unlink(missing_ok=True)
            if indexer is not None:
                indexer.abort()
            raise
        finally:
            if out is not None:
                out.close()
        detected = detect_format(bytes(head))
        if indexer is not None and (not indexer.finish() or detected is not FileFormat.bam):
            indexer.index_path.unlink(missing_ok=True)
        plaintext: Path | None = None
        if keep and detected in _EXT:
            plaintext = target.with_name(target.name + _EXT[detected])
            if detected is FileFormat.vcf and bytes(head[:2]) == b"\x1f\x8b":
                plaintext = plaintext.with_name(plaintext.name + ".gz")
            target.rename(plaintext)
        else:
            target.unlink(missing_ok=True)
        return DecryptedFile(
            sha256=sha.hexdigest(),
            size=size,
            detected_format=detected.value,
            read_count=fastq.records if fastq is not None else None,
            plaintext=plaintext,
        )

    @staticmethod
    def _other_keys(segment: bytearray, cipher: bytes, keys: list[bytes]) -> int:
        for k in keys[1:]:
            try:
                return int(sodium.chacha20poly1305_decrypt(segment, cipher, k))
            except Exception:  # noqa: S112 - try the next session key
                continue
        raise DecryptionFailed("a data segment fails authentication (corrupt or truncated)")

    def alignment_stats(self, plaintext: Path) -> tuple[int, float | None]:
        """Index the BAM/CRAM (pysam) unless indexed while decrypting; (reads, mean depth)."""
        suffix = ".crai" if plaintext.suffix == ".cram" else ".bai"
        try:
            if not plaintext.with_name(plaintext.name + suffix).is_file():
                build_index(plaintext, self.index_threads)
            with pysam.AlignmentFile(str(plaintext)) as af:
                stats = af.get_index_statistics()
                mapped = sum(s.mapped for s in stats)
                reads = mapped + sum(s.unmapped for s in stats) + af.nocoordinate
                genome = sum(af.lengths)
                if not genome or not mapped:
                    return reads, 0.0 if genome else None
                # Mean aligned length of a sample of reads times the mapped reads over the
                # reference length: exact depth needs a full pileup, too slow for intake.
                lengths = []
                try:
                    for read in af.fetch(until_eof=True):
                        if not (read.is_unmapped or read.is_secondary or read.is_supplementary):
                            lengths.append(read.query_alignment_length or 0)
                            if len(lengths) >= 10_000:
                                break
                except (OSError, ValueError):
                    return reads, None  # e.g. a CRAM whose reference is not available
                if not lengths:
                    return reads, None
                return reads, mapped * (sum(lengths) / len(lengths)) / genome
        except (pysam.SamtoolsError, OSError, ValueError) as exc:
            raise FileUnusable(
                "cannot be indexed (aligned reads must be coordinate-sorted and complete): "
                + str(exc).splitlines()[0][:200]
            ) from None
