"""The heartbeat engine: keeps every armed policy's exchange countdown alive and follows every disarm.

`Engine(egress).run(stop_event)` serves one egress identity (usable in a thread); `tasks.run_shift` runs it
as a chain of django-q2 shifts. `engine_alive()` and `current_engines()` read the liveness records.
"""

from heartbeats.engine.config import EngineConfig
from heartbeats.engine.core import Engine
from heartbeats.engine.liveness import current_engines, engine_alive

__all__ = ["Engine", "EngineConfig", "current_engines", "engine_alive"]
