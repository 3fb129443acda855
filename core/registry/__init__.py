"""The MLflow tracking store and Model Registry: runs, versions, aliases, audit trail, rollback.

The only package that talks to MlflowClient. Stages are aliases (MLflow 3 deprecated stages):
Production = alias `production`, Staging = alias `staging`; a version that loses Production is
tagged `stage=Archived`. Promotions and rollbacks are serialised by a lock kept in the store and
appended to an audit trail stored as registered-model tags, so every process sees one history.

Public surface: `Registry` (typed results `VersionInfo`, `PromotionResult`, `AuditEntry`,
`EarlierHolder`; `ANY` = don't check the current holder, `None` = nobody holds it) and
`RunLogger`; the seed guide's `MLflowTracker` and module functions stay as thin wrappers.

Modules: errors, checks (names and input checks), store (client, creation, error translation,
health probe), lock, runs, versions, audit, promotion, download, doctor, api (Registry),
tracker (MLflowTracker), cli.
"""

from core.registry.api import Registry
from core.registry.audit import AUDIT_COLUMNS, AuditEntry, EarlierHolder
from core.registry.checks import (
    ARCHIVED,
    LOCK_SUFFIX,
    MANIFEST_TAG,
    MAX_REASON_CHARS,
    MODEL_ARTIFACT_PATH,
    MODEL_NAME_PATTERN,
    MODEL_TYPE_TAG,
    STAGE_TAG,
    parse_version,
    stage_alias,
    validate_model_name,
)
from core.registry.cli import main
from core.registry.download import (
    direct_reader,
    download_model_version,
    load_model_from_registry,
    load_model_version,
    resolve_version,
)
from core.registry.errors import (
    WAYS_OUT,
    NoModelError,
    NotRegisteredError,
    PromotionConflict,
    RegistryError,
    RegistryUnavailable,
    StoreError,
)
from core.registry.lock import promotion_lock
from core.registry.promotion import ANY, PromotionResult
from core.registry.runs import RunLogger, StudyRun
from core.registry.store import (
    LOCK_STALE_SECONDS,
    LOCK_TIMEOUT_SECONDS,
    SERVER_CHECK_TIMEOUT_SECONDS,
    SQLITE_PROBE_SECONDS,
    ensure_store,
    import_client,
    probe_server,
)
from core.registry.tracker import MLflowTracker
from core.registry.versions import COMPARE_COLUMNS, METRIC_COLUMNS, VersionInfo

_promotion_lock = promotion_lock  # the name older tests use

__all__ = [
    "ANY",
    "ARCHIVED",
    "AUDIT_COLUMNS",
    "COMPARE_COLUMNS",
    "LOCK_STALE_SECONDS",
    "LOCK_SUFFIX",
    "LOCK_TIMEOUT_SECONDS",
    "MANIFEST_TAG",
    "MAX_REASON_CHARS",
    "METRIC_COLUMNS",
    "MODEL_ARTIFACT_PATH",
    "MODEL_NAME_PATTERN",
    "MODEL_TYPE_TAG",
    "SERVER_CHECK_TIMEOUT_SECONDS",
    "SQLITE_PROBE_SECONDS",
    "STAGE_TAG",
    "WAYS_OUT",
    "AuditEntry",
    "EarlierHolder",
    "MLflowTracker",
    "NoModelError",
    "NotRegisteredError",
    "PromotionConflict",
    "PromotionResult",
    "Registry",
    "RegistryError",
    "RegistryUnavailable",
    "RunLogger",
    "StudyRun",
    "StoreError",
    "VersionInfo",
    "direct_reader",
    "download_model_version",
    "ensure_store",
    "import_client",
    "load_model_from_registry",
    "load_model_version",
    "main",
    "parse_version",
    "probe_server",
    "promotion_lock",
    "resolve_version",
    "stage_alias",
    "validate_model_name",
]
