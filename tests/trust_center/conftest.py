from __future__ import annotations

import pytest

from config.context import AppContext
from trust_center.service import TrustCenterService

KVNR = "A123456780"
KVNR2 = "X110411675"
IK = "260326822"
IK2 = "261101015"
KDK = "kdk:KDKXXX001"
GRZ = "grz:GRZXXX001"


@pytest.fixture()
def tc(ctx: AppContext) -> TrustCenterService:
    return ctx.get(TrustCenterService)
