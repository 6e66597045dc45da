"""`{{ symbol|switch }}`: a switch's stored symbol as people read it, where only the symbol was kept (an
operation's target, a cancel's row): "whole account" for a blank one (heartbeats.models.policies)."""

from django import template

from heartbeats.models.policies import switch_label

register = template.Library()


@register.filter
def switch(symbol):
    return switch_label(symbol or "")
