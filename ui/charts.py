"""The admin's usage charts, described for screen readers: the chart says what it shows (its
SVG's label), and its bars and points are not announced one by one (axe's svg-img-alt)."""

from __future__ import annotations

from typing import Literal

import altair as alt
import pandas as pd


def usage_chart(frame: pd.DataFrame, measure: str, kind: Literal["bar", "line"]) -> alt.Chart:
    """`measure` per day of `frame` (columns "day" and `measure`), as bars or a line."""
    first, last = (frame["day"].min(), frame["day"].max()) if len(frame) else (None, None)
    span = f" from {first} to {last}" if first is not None else " (no data yet)"
    chart = alt.Chart(frame, description=f"{measure.capitalize()} per day{span}.")
    mark = chart.mark_bar(aria=False) if kind == "bar" else chart.mark_line(aria=False)
    return mark.encode(
        x=alt.X("day:T", title="Day"),
        y=alt.Y(f"{measure}:Q", title=measure.capitalize()),
        tooltip=[alt.Tooltip("day:T", title="Day"), alt.Tooltip(f"{measure}:Q")],
    )
