"""Notebooks saved before the package took one folder per section still run: the old import lines work, and
give the very objects the new layout holds (course_utils._legacy)."""

from __future__ import annotations

import importlib
import types

import pytest

# Every `course_utils` import line of the seven notebooks as they were before the reorganisation (git 373187f).
OLD_NOTEBOOK_IMPORTS = [
    "from course_utils import divergences, elbo, importance, latent, mixtures",
    "from course_utils.grading import check, score_table",
    "from course_utils.plotting import plot_evidence_estimators, plot_kl_asymmetry, plot_kl_mc_convergence",
    "from course_utils.widgets import elbo_ledger_demo, evidence_estimator_demo, kl_fit_demo",
    "from course_utils import digits, divergences, reparam, vae, vq",
    "from course_utils.plotting import plot_codebook_usage, plot_digit_rows, plot_estimator_variance, "
    "plot_latent_space, plot_pixel_likelihoods, plot_vae_losses",
    "from course_utils.widgets import beta_vae_demo, estimator_race_demo, latent_explorer_demo, vq_codebook_demo",
    "from course_utils import adain as adain_lib",
    "from course_utils import cyclegan, gan, gan_training",
    "from course_utils.metrics import digits_data, w2_exact",
    "from course_utils.mixtures import GaussianMixture",
    "from course_utils.plotting import plot_adain_grid, plot_cgan_samples, plot_cyclegan, plot_gan_snapshots, "
    "plot_generator_gradients, plot_optimal_discriminator, plot_sample_quality",
    "from course_utils.widgets import adain_demo, cgan_label_demo, gan_equilibrium_demo, gan_lab_demo",
    "from course_utils import transport, wasserstein, wgan",
    "from course_utils.gan_training import mode_coverage",
    "from course_utils.metrics import w2_exact",
    "from course_utils.models.section04 import CLIP_DEFAULTS, CLIP_TUNED, WGAN_GP, wgan_target",
    "from course_utils.plotting import plot_critic_fits, plot_earth_mover, plot_gan_snapshots, plot_parallel_lines, "
    "plot_sample_quality, plot_sorted_coupling, plot_transport_plans, plot_wgan_estimates",
    "from course_utils.widgets import critic_demo, earth_mover_demo, parallel_lines_demo, transport_2d_demo",
    "from course_utils.widgets.wasserstein import CRITIC_LIM, critic_grid, critic_problem",
    "from course_utils import data, flow_matching, flows, ode, paths",
    "from course_utils.plotting import animate_flow_path, plot_flow_closed_form, plot_flow_continuity, "
    "plot_flow_guidance, plot_flow_paths, plot_flow_samples, plot_flow_schedulers, plot_flow_snapshots, "
    "plot_flow_solver_errors",
    "from course_utils.widgets import flow_continuity_demo, flow_field_demo, flow_guidance_demo, flow_lens_demo, "
    "flow_scrub_demo",
    "from course_utils import data, langevin, paths, score_matching, sde",
    "from course_utils.plotting import plot_brownian_paths, plot_dsm_loss_floor, plot_langevin_tempering, "
    "plot_learned_score, plot_ou_marginals, plot_score_field, plot_score_model_samples, plot_sde_trajectories",
    "from course_utils.widgets import langevin_lab_demo, ode_to_sde_demo, three_dynamics_demo",
    "from course_utils import ddim, diffusion, ode, paths",
    "from course_utils.data import eight_gaussians",
    "from course_utils.digits import load_digits_split",
    "from course_utils.metrics import digits_scores, w2_exact",
    "from course_utils.plotting import plot_ddim_ode_gaps, plot_ddim_quality, plot_ddpm_chain_vs_kernel, "
    "plot_ddpm_flow_convention, plot_ddpm_reverse, plot_ddpm_schedules, plot_ddpm_time_embedding, plot_digit_rows",
    "from course_utils.widgets import ddim_eta_demo, ddim_steps_demo, ddpm_reverse_demo, ddpm_schedule_demo, "
    "ddpm_tweedie_demo",
]

OLD_LAYOUT = ("course_utils.plotting", "course_utils.widgets", "course_utils.models", "course_utils.training")


def _run(line: str) -> dict:
    namespace: dict = {}
    exec(line, namespace)  # noqa: S102 - the line is one of the literals above
    namespace.pop("__builtins__")
    return namespace


@pytest.mark.parametrize("line", OLD_NOTEBOOK_IMPORTS)
def test_an_old_import_line_binds_objects_of_the_new_layout(line):
    for name, obj in _run(line).items():
        if isinstance(obj, types.ModuleType):
            assert obj.__name__.startswith("course_utils."), name
            new = importlib.import_module(obj.__name__)  # its own, new name
            assert new is obj and obj.__spec__.name == obj.__name__, name
        elif hasattr(obj, "__module__") and callable(obj) and obj.__module__.startswith("course_utils"):
            assert not obj.__module__.startswith(OLD_LAYOUT), (name, obj.__module__)
            assert getattr(importlib.import_module(obj.__module__), obj.__name__) is obj, name


def test_old_module_names_are_the_new_modules():
    from course_utils import data, diffusion, mixtures, paths
    from course_utils.data import mixtures as new_mixtures
    from course_utils.data import toy2d
    from course_utils.s05_flow_matching import probability_paths
    from course_utils.s07_ddpm import diffusion as new_diffusion

    assert diffusion is new_diffusion and paths is probability_paths and mixtures is new_mixtures
    assert data.sample_target is toy2d.sample_target and data.eight_gaussians is toy2d.eight_gaussians


def test_old_collections_gather_every_sections_figures_and_demos():
    import course_utils.plotting as plotting
    import course_utils.widgets as widgets

    from course_utils.s01_kl_elbo import widgets as s01_widgets
    from course_utils.s07_ddpm import plots as s07_plots
    from course_utils.ui.demos import demos, show_demo

    assert plotting.plot_ddpm_schedules is s07_plots.plot_ddpm_schedules
    assert widgets.kl_fit_demo is s01_widgets.kl_fit_demo
    assert widgets.demos is demos and widgets.show_demo is show_demo
    assert {s.name for s in demos()} <= set(widgets.__all__)


def test_old_submodule_names_of_the_collections():
    from course_utils.models import section07
    from course_utils.plotting import render
    from course_utils.widgets import base, registry

    from course_utils.grading import section05
    from course_utils.s05_flow_matching import checks
    from course_utils.s07_ddpm import models
    from course_utils.ui import render as new_render

    assert section05 is checks and section07 is models and render is new_render
    assert base.FigureDemo.__module__ == "course_utils.ui.base" and registry.demo.__module__ == "course_utils.ui.demos"


def test_renamed_names_are_given_back_under_the_old_module_names():
    from course_utils import ddim, diffusion, paths

    assert paths.Scheduler is paths.GaussianPath and paths.LinearScheduler is paths.LinearPath
    assert paths.CosineScheduler is paths.CosinePath and paths.SCHEDULERS is paths.GAUSSIAN_PATHS
    assert paths.scheduler("cosine").name == "cosine"
    assert diffusion.Schedule is diffusion.NoiseSchedule and ddim.DDPMScheduler is ddim.DDPMPath


def test_the_old_training_module_gathers_the_loop_and_the_registry():
    from course_utils.training import TrainedModel, WeightAverage, course_model, fit, one_thread

    from course_utils.core import fit as new_fit
    from course_utils.core import threads, trained

    assert fit is new_fit.fit and WeightAverage is new_fit.WeightAverage and one_thread is threads.one_thread
    assert course_model is trained.course_model and TrainedModel is trained.TrainedModel


def test_old_names_as_attributes_of_the_package():
    import course_utils
    from course_utils.s01_kl_elbo import divergences

    assert course_utils.divergences is divergences
    with pytest.raises(AttributeError, match="no attribute 'no_such_module'"):
        course_utils.no_such_module  # noqa: B018
