"""Keras's lookup of a configurable object family (regularizers, constraints) by name, config
dict, class or instance, with its serialize/deserialize format."""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional


class Family:
    """``kind``: the family's noun in messages ("regularizer"); ``module``: Keras's module name
    in serialized configs; ``objects``: names (class names and aliases) -> classes."""

    def __init__(self, kind: str, module: str, objects: Mapping[str, Any]) -> None:
        self.kind, self.module, self.objects = kind, module, objects

    def serialize(self, obj: Any) -> Dict[str, Any]:
        """Keras's format: {"module", "class_name", "config", "registered_name"}."""
        return {"module": self.module, "class_name": type(obj).__name__, "config": obj.get_config(),
                "registered_name": None}

    def deserialize(self, config: Any, custom_objects: Optional[Mapping[str, Any]] = None) -> Any:
        objects: Dict[str, Any] = {**self.objects, **(custom_objects or {})}
        if isinstance(config, str):
            return self.get(config)
        if not isinstance(config, dict) or config.get("class_name") not in objects:
            raise ValueError(f"Could not interpret {self.kind} config: {config!r}")
        return objects[config["class_name"]].from_config(dict(config.get("config") or {}))

    def get(self, identifier: Any) -> Optional[Callable]:
        """An object from a name, a config dict, a class, an instance (any callable) or None."""
        if identifier is None:
            return None
        if isinstance(identifier, dict):
            obj = self.deserialize(identifier)
        elif isinstance(identifier, str):
            obj = self.objects.get(identifier)
        else:
            obj = identifier
        if isinstance(obj, type):
            obj = obj()
        if callable(obj):
            return obj
        raise ValueError(f"Could not interpret {self.kind} identifier: {identifier}")
