"""A one-shot hook that runs NetScore callbacks right after a module's own
``on_validation_epoch_end``, and never outlives that call."""

from __future__ import annotations

from types import MethodType
from typing import Any

__all__ = ["HOOK", "AfterModuleHook"]

HOOK = "on_validation_epoch_end"
_ABSENT = object()  # the module instance held no hook of its own


class AfterModuleHook:
    """Runs NetScore callbacks right after the module's own ``on_validation_epoch_end``.

    A callback's ``on_validation_epoch_end`` runs just before the module's, and puts this object
    on the module instance under that hook's name (one object per module, shared by every
    NetScore callback). When Lightning calls the module's hook, the object first removes itself,
    restoring exactly what the instance held before, then runs that hook and each callback's
    work. Callbacks also remove it on an exception and at teardown, and a copy or pickle of the
    module in between gets the module's own hook, so it never outlives the hook call.
    """

    def __init__(self, module: Any) -> None:
        self.module = module
        self.before = vars(module).get(HOOK, _ABSENT)
        self.callbacks: list[Any] = []

    @classmethod
    def add(cls, module: Any, callback: Any) -> None:
        installed = vars(module).get(HOOK)
        if not isinstance(installed, cls):
            installed = cls(module)
            vars(module)[HOOK] = installed
        installed.callbacks.append(callback)

    @classmethod
    def remove_from(cls, module: Any) -> None:
        installed = vars(module).get(HOOK)
        if isinstance(installed, cls):
            installed.remove()

    def remove(self) -> None:
        if vars(self.module).get(HOOK) is self:
            if self.before is _ABSENT:
                del vars(self.module)[HOOK]
            else:
                vars(self.module)[HOOK] = self.before

    def __call__(self) -> None:
        self.remove()
        getattr(self.module, HOOK)()
        for callback in self.callbacks:
            callback._log_netscore(self.module.trainer, self.module)

    def __reduce__(self) -> tuple[Any, ...]:
        # A copy of the module holds the hook as it was before, never this object.
        if self.before is _ABSENT:
            return _class_hook, (self.module,)
        return _same, (self.before,)


def _class_hook(module: Any) -> Any:
    return MethodType(getattr(type(module), HOOK), module)


def _same(value: Any) -> Any:
    return value
