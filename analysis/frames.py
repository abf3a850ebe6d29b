"""Small reshapes of run artifacts for display; pandas only, so pages import it cheaply.

>>> import pandas as pd
>>> fu = pd.DataFrame({"family": ["a", "a", "b"], "bucket": [7, 4095, 7],
...                    "count": [5, 1, 2], "share": [0.8, 0.2, 1.0]})
>>> grid = usage_grid(fu, top_n=2)
>>> list(grid.columns), grid.loc["b"].tolist()
([7, 4095], [1.0, 0.0])
"""

from __future__ import annotations

import pandas as pd

__all__ = ["usage_grid"]


def usage_grid(usage: pd.DataFrame, top_n: int) -> pd.DataFrame:
    """Family × bucket shares of the ``top_n`` buckets with the most occurrences over
    all families (heaviest first; ties by bucket id), from ``family_usage`` rows of one
    (table, head); 0 where a family never lands in a bucket."""
    totals = usage.groupby("bucket")["count"].sum()
    top = totals.sort_index().sort_values(ascending=False, kind="stable").head(top_n).index
    grid = usage[usage["bucket"].isin(top)].pivot_table(
        index="family", columns="bucket", values="share", fill_value=0.0
    )
    return grid[list(top)]
