"""The widgets' labels: `tr("section.key")`, `labels_for(section)`, `set_language("zh")` (see diffviz.i18n)."""
from ..i18n import I18N_DIR, LANGUAGES, _current, _table, labels_for, language, set_language, tr  # noqa: F401

__all__ = ["I18N_DIR", "LANGUAGES", "labels_for", "language", "set_language", "tr"]
