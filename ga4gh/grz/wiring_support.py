"""Finding the other components' ports for the intake (trust center, platform provider)."""

from __future__ import annotations

from typing import Any

from common.errors import GenomseqError
from ga4gh.grz.ports import Inbox, Progress, PruefberichtReceiver, TanExchange
from ga4gh.grz.service import grz_id, make_intake


class NotWired(GenomseqError):
    """A component the intake needs is not part of this deployment."""

    status = 503
    code = "not-wired"


def tan_exchange(ctx: Any) -> TanExchange:
    """The trust center's PseudonymService behind the TanExchange port."""
    from ga4gh.grz.storage.bridges import PseudonymServiceTanExchange
    from trust_center.ports import PseudonymService

    provided = ctx.find(TanExchange)
    if provided is not None:
        return provided  # type: ignore[no-any-return]
    service = ctx.find(PseudonymService)
    if service is None:
        raise NotWired("the trust center's PseudonymService is not wired in this deployment")
    return PseudonymServiceTanExchange(service, grz_id(ctx))


def pruefbericht_receiver(ctx: Any) -> PruefberichtReceiver:
    """The platform provider's Prüfbericht reception (in-process by default)."""
    g = ctx.settings.grz
    if g.platform_url:
        from pathlib import Path

        from ga4gh.grz.storage.platform_http import HttpPruefberichtReceiver

        if not g.platform_token_file:
            raise NotWired("GENOMSEQ_GRZ_PLATFORM_URL needs GENOMSEQ_GRZ_PLATFORM_TOKEN_FILE")
        token = Path(g.platform_token_file).read_text().strip()
        return HttpPruefberichtReceiver(g.platform_url, token)
    found = ctx.find(PruefberichtReceiver)
    if found is None:
        raise NotWired("no Prüfbericht receiver is wired")
    return found  # type: ignore[no-any-return]


def intake_for(ctx: Any, inbox: Inbox, progress: Progress | None = None) -> Any:
    """An IntakeService wired to this deployment's components."""
    return make_intake(
        ctx,
        inbox=inbox,
        tans=tan_exchange(ctx),
        reports=pruefbericht_receiver(ctx),
        progress=progress,
    )
