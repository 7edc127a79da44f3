"""The report's comparisons, one module each. Importing this package registers every comparison and its
claims (:data:`verify.claims.COMPARISONS`, :data:`verify.claims.CLAIMS`), in the report's order.

Adding a comparison is one module: a function ``run(ctx) -> (data, figures)`` registered with
``@comparison(name, title)`` and its claims, each a ``measure(data, profile) -> [Point]`` registered with
``@claim(name, id, ...)``; then one import line below.
"""

from . import rug, fig2, symmetry, bounds, fig3, scaling, pairs, activations, appendix_h, sae  # noqa: F401  (registration order)
from ._common import Context

__all__ = ["Context"]
