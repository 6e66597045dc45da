"""A Binance futures (and options) exchange simulator for the demo and the tests (no Django imports)."""

from .server import Simulator

__all__ = ["Simulator"]
