"""Every figure of the lab book, by kind; no measurement is computed here.

- :mod:`~stnutils.viz.images`: example grids, tables of images, one field, inputs and glimpses.
- :mod:`~stnutils.viz.glimpses`: sampling boxes and grids drawn on inputs, model comparisons, animations.
- :mod:`~stnutils.viz.curves`: training histories, one run or several.
- :mod:`~stnutils.viz.accuracy`: accuracy maps, the benchmark, accuracy against contrast and angle.
- :mod:`~stnutils.viz.localisation`: where a model looks, against where the digit is.
- :mod:`~stnutils.viz.retina`: retina layouts and codes.
- :mod:`~stnutils.viz.spectra`: power spectra.
- :mod:`~stnutils.viz.saccades`: the What/Where model's collicular maps, saccade paths and curves.

Every function returns a ``matplotlib.figure.Figure`` (``animate_transformer``: HTML or a
GIF path), titled, with axes in units; none calls ``plt.show()``.
"""
from . import accuracy, curves, glimpses, images, localisation, retina, saccades, spectra
from .accuracy import (
    plot_accuracy_by_angle,
    plot_accuracy_maps,
    plot_benchmark,
    plot_compute_accuracy,
    plot_contrast_accuracy,
)
from .curves import plot_history, plot_history_comparison
from .glimpses import animate_transformer, draw_sampling_boxes, draw_sampling_grids, show_glimpses_compared
from .images import show_examples, show_field, show_grid, show_transformed
from .localisation import plot_angle_scatter, plot_glimpse_errors, plot_offset_tracking
from .retina import show_retina_codes, show_retina_layout
from .saccades import (
    draw_saccade_paths,
    plot_accuracy_vs_saccades,
    plot_saccade_benchmark,
    show_collicular_maps,
)
from .spectra import show_radial_spectrum

__all__ = [
    "accuracy", "curves", "glimpses", "images", "localisation", "retina", "saccades", "spectra",
    "draw_saccade_paths", "plot_accuracy_vs_saccades", "plot_saccade_benchmark", "show_collicular_maps",
    "plot_accuracy_by_angle", "plot_accuracy_maps", "plot_benchmark", "plot_compute_accuracy", "plot_contrast_accuracy",
    "plot_history", "plot_history_comparison",
    "animate_transformer", "draw_sampling_boxes", "draw_sampling_grids", "show_glimpses_compared",
    "show_examples", "show_field", "show_grid", "show_transformed",
    "plot_angle_scatter", "plot_glimpse_errors", "plot_offset_tracking",
    "show_retina_codes", "show_retina_layout", "show_radial_spectrum",
]
