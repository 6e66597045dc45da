"""`{{ value|duration }}`: milliseconds as people read them (heartbeats.formats.durations)."""

from django import template

from heartbeats.formats.durations import duration as _duration

register = template.Library()


@register.filter
def duration(ms):
    return _duration(ms)
