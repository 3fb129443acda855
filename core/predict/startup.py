"""A serving process's start: import xgboost without scikit-learn, so the first answer is quick.

`import xgboost` imports scikit-learn when it is installed (xgboost.compat builds its sklearn
wrappers on it), and scikit-learn imports scipy.stats: about 2 of the 2.7 CPU s of a plain
`import xgboost` on the project's 2-core VM, for nothing a serving process uses. Models are
loaded as XGBoost Boosters (core.artifacts.load_model_dir) and scored in place
(core.predict.scoring), neither of which needs scikit-learn.

The trade-off, in the process that calls `import_xgboost_lean()` (the API server only):
xgboost's scikit-learn layer is off for the life of the process — `xgboost.XGBClassifier()`
raises ImportError ("sklearn needs to be installed") and a loaded XGBoost bundle's `.estimator`
with it — so that process must not train or hand XGBoost models to scikit-learn. scikit-learn
itself still imports normally afterwards (a random forest's skops load does), and nothing about
the model files or the answers changes. The dashboard, the CLIs and the tests import xgboost as
usual.
"""

from __future__ import annotations

import sys


def import_xgboost_lean() -> bool:
    """Import xgboost with scikit-learn hidden, when neither is imported yet.

    Returns True when xgboost was imported that way; False when xgboost or scikit-learn was
    already imported (then nothing changes). Call it once, before any thread starts.
    """
    if "xgboost" in sys.modules or "sklearn" in sys.modules:
        return False
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # `import sklearn` -> ImportError
    try:
        import xgboost  # noqa: F401
    finally:
        if "sklearn" in sys.modules and sys.modules["sklearn"] is None:
            del sys.modules["sklearn"]  # later imports of scikit-learn work as usual
    return True
