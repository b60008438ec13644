"""The template registry: the WABA's templates as Meta lists them, synced into the single table
(:mod:`mmcore.store.templates`) on demand, on a schedule, and by campaigns' preflight (which gets the sync
injected by its handler: a capability never imports another). :mod:`.sync` reads Graph; :mod:`.views` is what
the API shows."""

from mmcore.templates.sync import FIELDS, MAX_PAGES, PAGE_SIZE, Registry, SyncReport
from mmcore.templates.views import SyncView, TemplatesPage, TemplateView, template_view

__all__ = [
    "FIELDS",
    "MAX_PAGES",
    "PAGE_SIZE",
    "Registry",
    "SyncReport",
    "SyncView",
    "TemplateView",
    "TemplatesPage",
    "template_view",
]
