"""The package's old module names, kept so that a notebook saved before the reorganisation still runs.

Until section folders arrived, every module sat in one flat ``course_utils/`` and a notebook wrote
``from course_utils import diffusion`` or ``from course_utils.widgets import kl_fit_demo``. Those
lines still work: an import hook maps each old name to its module's new home, and the result is
the *same* module object (``course_utils.diffusion is course_utils.s07_ddpm.diffusion``), so
nothing is loaded twice and every old name stays in step with the new code.

- :data:`MODULES`: old module -> new module (one module each).
- :data:`COLLECTIONS`: the old ``plotting`` and ``widgets`` packages, which re-exported every
  section's figures and demos; they are assembled from each section's ``plots`` / ``widgets``.
- :data:`RENAMED`: names that changed (``paths.Scheduler`` is ``probability_paths.GaussianPath``), given
  back under their old names when the old module name is imported.
- ``course_utils.training`` re-exports the names that now live in ``core.fit``, ``core.threads``
  and ``core.trained``.

New code imports the new names; ``tests/test_legacy_imports.py`` pins the old ones.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types

_S = {
    "01": "course_utils.s01_kl_elbo", "02": "course_utils.s02_vae", "03": "course_utils.s03_gans",
    "04": "course_utils.s04_wasserstein", "05": "course_utils.s05_flow_matching",
    "06": "course_utils.s06_sde_langevin", "07": "course_utils.s07_ddpm",
}

#: Old module name -> the module that holds its code now.
MODULES = {
    "course_utils.validation": "course_utils.core.validation",
    "course_utils.nets": "course_utils.core.nets",
    "course_utils.ode": "course_utils.core.ode",
    "course_utils.mixtures": "course_utils.data.mixtures",
    "course_utils.digits": "course_utils.data.digits",
    "course_utils.divergences": f"{_S['01']}.divergences",
    "course_utils.latent": f"{_S['01']}.latent",
    "course_utils.elbo": f"{_S['01']}.elbo",
    "course_utils.importance": f"{_S['01']}.importance",
    "course_utils.reparam": f"{_S['02']}.reparam",
    "course_utils.vae": f"{_S['02']}.vae",
    "course_utils.vq": f"{_S['02']}.vq",
    "course_utils.gan": f"{_S['03']}.gan",
    "course_utils.gan_training": f"{_S['03']}.gan_training",
    "course_utils.cyclegan": f"{_S['03']}.cyclegan",
    "course_utils.adain": f"{_S['03']}.adain",
    "course_utils.wasserstein": f"{_S['04']}.wasserstein",
    "course_utils.transport": f"{_S['04']}.transport",
    "course_utils.wgan": f"{_S['04']}.wgan",
    "course_utils.flows": f"{_S['05']}.flows",
    "course_utils.flow_matching": f"{_S['05']}.flow_matching",
    "course_utils.paths": f"{_S['05']}.probability_paths",
    "course_utils.sde": f"{_S['06']}.sde",
    "course_utils.langevin": f"{_S['06']}.langevin",
    "course_utils.score_matching": f"{_S['06']}.score_matching",
    "course_utils.diffusion": f"{_S['07']}.diffusion",
    "course_utils.ddim": f"{_S['07']}.ddim",
    "course_utils.plotting.render": "course_utils.ui.render",
    "course_utils.widgets.base": "course_utils.ui.base",
    "course_utils.widgets.registry": "course_utils.ui.demos",
    "course_utils.plotting.kl": f"{_S['01']}.plots",
    "course_utils.plotting.estimators": f"{_S['01']}.plots",
    "course_utils.plotting.vae": f"{_S['02']}.plots",
    "course_utils.plotting.gan": f"{_S['03']}.plots",
    "course_utils.plotting.wasserstein": f"{_S['04']}.plots",
    "course_utils.plotting.flows": f"{_S['05']}.plots",
    "course_utils.plotting.sde": f"{_S['06']}.plots",
    "course_utils.plotting.diffusion": f"{_S['07']}.plots",
    "course_utils.widgets.kl": f"{_S['01']}.widgets.kl",
    "course_utils.widgets.elbo": f"{_S['01']}.widgets.elbo",
    "course_utils.widgets.estimators": f"{_S['01']}.widgets.estimators",
    "course_utils.widgets.vae": f"{_S['02']}.widgets.vae",
    "course_utils.widgets.vq": f"{_S['02']}.widgets.vq",
    "course_utils.widgets.gan": f"{_S['03']}.widgets",
    "course_utils.widgets.wasserstein": f"{_S['04']}.widgets",
    "course_utils.widgets.flows": f"{_S['05']}.widgets",
    "course_utils.widgets.sde": f"{_S['06']}.widgets",
    "course_utils.widgets.diffusion": f"{_S['07']}.widgets",
    **{f"course_utils.grading.section{n}": f"{pkg}.checks" for n, pkg in _S.items()},
    **{f"course_utils.models.section{n}": f"{pkg}.models" for n, pkg in _S.items() if n != "01"},
}

#: Names renamed in the reorganisation (the old ones differed by a suffix), given back under the old module
#: names.
RENAMED = {
    "course_utils.paths": {
        "Scheduler": "GaussianPath", "LinearScheduler": "LinearPath", "CosineScheduler": "CosinePath",
        "SCHEDULERS": "GAUSSIAN_PATHS", "scheduler": "gaussian_path",
    },
    "course_utils.diffusion": {"Schedule": "NoiseSchedule"},
    "course_utils.ddim": {"DDPMScheduler": "DDPMPath", "Schedule": "NoiseSchedule"},
}

#: Old packages that gathered one role of every section: name -> (role, names they always had).
COLLECTIONS = {
    "course_utils.plotting": ("plots", {"COLORS": "course_utils.ui.render"}),
    "course_utils.widgets": ("widgets", {"FigureDemo": "course_utils.ui.base", "DemoSpec": "course_utils.ui.demos",
                                         "demo": "course_utils.ui.demos", "demos": "course_utils.ui.demos",
                                         "show_demo": "course_utils.ui.demos"}),
    "course_utils.models": ("models", {}),
}

#: ``course_utils.training``: the training loop and the trained-model registry, now three modules.
TRAINING = ("course_utils.core.fit", "course_utils.core.threads", "course_utils.core.trained")


class _Alias(importlib.abc.Loader):
    """Loads an old name as the already imported module of its new name."""

    def __init__(self, target: str, renamed: dict[str, str]):
        self.target, self.renamed = target, renamed

    def create_module(self, spec):
        module = importlib.import_module(self.target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module):
        module.__spec__ = self._spec  # the import system set the old name's spec; the module keeps its own
        for old, new in self.renamed.items():
            setattr(module, old, getattr(module, new))


class _Collection(importlib.abc.Loader):
    """Builds an old collection package from every section's module of one role."""

    def __init__(self, role: str, extras: dict[str, str]):
        self.role, self.extras = role, extras

    def create_module(self, spec):
        module = types.ModuleType(spec.name, f"Old name: every section's ``{self.role}`` (see course_utils._legacy).")
        module.__path__ = []  # a package, so that its old submodules import
        return module

    def exec_module(self, module):
        from .core.registry import discover

        names = []
        for found in discover(self.role):
            source = sys.modules[found]
            for name in getattr(source, "__all__", ()):
                setattr(module, name, getattr(source, name))
                names.append(name)
        for name, where in self.extras.items():
            setattr(module, name, getattr(importlib.import_module(where), name))
            names.append(name)
        module.__all__ = names


class _Training(importlib.abc.Loader):
    def create_module(self, spec):
        return types.ModuleType(spec.name, "Old name: core.fit, core.threads and core.trained (course_utils._legacy).")

    def exec_module(self, module):
        names = []
        for where in TRAINING:
            source = importlib.import_module(where)
            for name in source.__all__:
                setattr(module, name, getattr(source, name))
                names.append(name)
        module.__all__ = names


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("course_utils."):
            return None
        if fullname in MODULES:
            loader = _Alias(MODULES[fullname], RENAMED.get(fullname, {}))
        elif fullname in COLLECTIONS:
            loader = _Collection(*COLLECTIONS[fullname])
        elif fullname == "course_utils.training":
            loader = _Training()
        else:
            return None
        return importlib.machinery.ModuleSpec(fullname, loader, is_package=fullname in COLLECTIONS)


def install() -> None:
    """Put the old names on the import path (once)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())


def attribute(name: str):
    """``course_utils.<name>`` for an old top-level name, imported; None if ``name`` is not one."""
    full = f"course_utils.{name}"
    if full in MODULES or full in COLLECTIONS or full == "course_utils.training":
        return importlib.import_module(full)
    return None
