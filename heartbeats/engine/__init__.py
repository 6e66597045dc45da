"""The heartbeat engine: keeps every armed policy's exchange countdown alive and follows every disarm.

`Engine(egress).run(stop_event)` stands by for one egress identity's lease, then serves it (usable in a
thread; the worker runs it as its `engine:<egress>` duty, heartbeats.duties). `engine_alive()` and
`current_engines()` read the liveness records.
"""

from heartbeats.engine.config import EngineConfig
from heartbeats.engine.core import Engine
from heartbeats.engine.liveness import current_engines, engine_alive

__all__ = ["Engine", "EngineConfig", "current_engines", "engine_alive"]
