"""``eager_on_data_change()``: Declarative Automation that ignores re-runs with the same output.

``AutomationCondition.eager()`` requests a downstream asset on every new materialization of a
dependency, whatever its data version. A pipeline asset materializes once per input commit,
and its data version is its output tree (``pipelines/assets.py``), so a commit that changes
nothing the pipeline reads would still rerun everything below it; this condition asks for a
changed data version instead (dagster-io/dagster#14842).
"""

from __future__ import annotations

import dagster as dg


def eager_on_data_change() -> dg.AutomationCondition:
    """``eager()`` with "a dependency updated" narrowed to "a dependency's data version changed".

    Example::

        @dg.asset(deps=[montage.key], automation_condition=eager_on_data_change())
        def report() -> None: ...
    """
    changed = dg.AutomationCondition.any_deps_match(
        dg.AutomationCondition.data_version_changed() | dg.AutomationCondition.will_be_requested()
    ).with_label("any_deps_data_version_changed")
    return dg.AutomationCondition.eager().replace("any_deps_updated", changed)
