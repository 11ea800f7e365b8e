"""Charts drawn on the server as SVG (no JavaScript, nothing to load): per currency, one bar a day
for sales above the axis, refunds below it, and the fees as a line. Every bar carries its day's
figures as a <title> (the browser shows it on hover), and the page repeats them in a table, so the
chart is readable without it. Geometry only: amounts are scaled with integer arithmetic and
formatted by the caller's `money` function (the seller's locale)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from settlement.dashboard.selectors import CurrencySeries

WIDTH = 720
HEIGHT = 200
LABEL_BAND = 18  # below the plot: the dates
TOP_BAND = 14  # above the plot: the largest value


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    title: str


@dataclass(frozen=True)
class Label:
    x: int
    y: int
    text: str
    anchor: str = "start"


@dataclass(frozen=True)
class Chart:
    currency: str
    width: int
    height: int
    baseline_y: int
    sales: list[Bar]
    refunds: list[Bar]
    fee_points: str  # an SVG polyline's points
    labels: list[Label]
    summary: str  # the chart in one sentence (its accessible name)


def _scaled(amount: int, total: int, span: int) -> int:
    return 0 if total <= 0 else amount * span // total


def day_chart(series: CurrencySeries, *, money: Callable[[int, str], str]) -> Chart:
    days = series.days
    currency = series.currency
    up = max([max(day.sales_minor, day.fees_minor) for day in days] + [0])
    down = max([day.refunds_minor for day in days] + [0])
    plot_top, plot_bottom = TOP_BAND, HEIGHT - LABEL_BAND
    span = plot_bottom - plot_top
    baseline = plot_top + (_scaled(up, up + down, span) if up + down else span)
    slot = WIDTH // max(len(days), 1)
    bar_width = max(slot - 2, 1)
    sales, refunds, points = [], [], []
    for index, day in enumerate(days):
        x = index * slot + 1
        title = (
            f"{day.day:%d %b %Y}: sales {money(day.sales_minor, currency)} ({day.sales_count}), "
            f"fees {money(day.fees_minor, currency)}, refunds {money(day.refunds_minor, currency)}"
        )
        height = _scaled(day.sales_minor, up + down, span)
        sales.append(Bar(x, baseline - height, bar_width, height, title))
        height = _scaled(day.refunds_minor, up + down, span)
        refunds.append(Bar(x, baseline, bar_width, height, title))
        points.append(f"{x + bar_width // 2},{baseline - _scaled(day.fees_minor, up + down, span)}")
    labels = [Label(2, TOP_BAND - 3, money(up, currency))]
    if down:
        labels.append(Label(2, plot_bottom - 2, f"{money(-down, currency)} refunds"))
    if days:
        bottom = HEIGHT - 4
        labels += [
            Label(1, bottom, f"{days[0].day:%d %b}"),
            Label(WIDTH // 2, bottom, f"{days[len(days) // 2].day:%d %b}", "middle"),
            Label(WIDTH - 1, bottom, f"{days[-1].day:%d %b}", "end"),
        ]
    summary = (
        f"{currency} over {len(days)} days: sales {money(series.sales_minor, currency)} "
        f"({series.sales_count}), fees {money(series.fees_minor, currency)}, refunds "
        f"{money(series.refunds_minor, currency)}"
    )
    return Chart(
        currency=currency,
        width=WIDTH,
        height=HEIGHT,
        baseline_y=baseline,
        sales=sales,
        refunds=refunds,
        fee_points=" ".join(points),
        labels=labels,
        summary=summary,
    )
