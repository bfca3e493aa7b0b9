"""{{ link|prolific }}: a participant link with Prolific's query suffix (views_sharing.py)."""

from django import template

from uxlab.web.views_sharing import PROLIFIC_SUFFIX

register = template.Library()


@register.filter
def prolific(link):
    return f"{link}{PROLIFIC_SUFFIX}"
