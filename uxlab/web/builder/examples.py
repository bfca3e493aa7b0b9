"""Starting a study from one of the shipped example study files (studies/example_studies.py)."""

from uxlab.studies.example_studies import example_document
from uxlab.studies.models import Study


def example_start(name, code=None, title=None):
    """The example's study file as a new draft's document: the researcher's code and title when
    given; otherwise the example's own code while no study has it (else one is made up)."""
    document = example_document(name)
    own = str(document.get("code") or "")
    document["code"] = code or (own if own and not Study.objects.filter(code__iexact=own).exists() else None)
    if title:
        document["title"] = title
    return document
