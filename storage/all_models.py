"""Import every module that defines tables, so Base.metadata is complete (Alembic, create_all)."""

from __future__ import annotations

from storage import models, models_scorecard  # noqa: F401 - each registers its tables
from storage.contacts import models as address_book_models  # noqa: F401 - the WeCom address book's mirror
from storage.contracts import models as contract_models  # noqa: F401
from storage.customer_contacts import models as contact_models  # noqa: F401 - 客户联系
from storage.handover import models as handover_models  # noqa: F401 - the handovers table
from storage.leads import models as lead_models  # noqa: F401
from storage.targets import models as target_models  # noqa: F401 - the targets tables
from storage.web import models as web_models  # noqa: F401 - web sign-in sessions
