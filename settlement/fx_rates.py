"""Foreign-exchange rates: the one validation of a rate, the lookup conversions use, and the CSV
import (manage.py import_fx_rates).

A rate says 1 `base` = `rate` `quote` in major units, exactly (a decimal with at most 10 places,
never a float), as of a time, from a named source. Both codes are ISO 4217 currencies with a minor
unit (core.money refuses XAU, XXX and the like), the rate is positive, and its time is not in the
future. A rate is never edited: a correction is a rate with a later `as_of`.

The rate for converting C into S at time t is the latest rate at or before t quoted either way:
C/S as it is, or S/C inverted. The inverse is kept as an exact fraction (1 / 1.0850000000 has no
finite decimal), so no digit is lost before the one rounding of the converted amount.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.money import currency_exponent
from settlement.models import FxRate

RATE_DECIMAL_PLACES = 10
RATE_INTEGER_DIGITS = 10  # max_digits 20 - decimal_places 10
MAX_IMPORT_ROWS = 100_000
MAX_SOURCE_CHARS = 128
REQUIRED_COLUMNS = ("base", "quote", "rate", "as_of")
OPTIONAL_COLUMNS = ("source",)


# --- one rate --------------------------------------------------------------------------------


def _currency_error(code: object) -> str | None:
    if not isinstance(code, str) or len(code) != 3 or not code.isalpha():
        return "Give an ISO 4217 code of three letters, e.g. EUR."
    try:
        currency_exponent(code.upper())
    except ValueError as exc:
        return f"{code}: {exc}."
    return None


def parse_rate(text: str) -> Decimal:
    """A rate as typed ("1.085", "150.25"): a plain positive decimal with at most 10 places and
    10 integer digits. ValueError otherwise; never rounded."""
    cleaned = text.strip()
    if not cleaned or "e" in cleaned.lower() or "," in cleaned:
        raise ValueError(f"{text!r} is not a plain decimal number such as 1.0850")
    try:
        rate = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a plain decimal number such as 1.0850") from None
    return check_rate(rate)


def check_rate(rate: Decimal) -> Decimal:
    if not rate.is_finite() or rate <= 0:
        raise ValueError("A rate is a positive number.")
    exponent = rate.as_tuple().exponent
    assert isinstance(exponent, int)  # finite, checked above
    if -exponent > RATE_DECIMAL_PLACES:
        raise ValueError(f"A rate has at most {RATE_DECIMAL_PLACES} decimal places (no rounding).")
    if rate.adjusted() >= RATE_INTEGER_DIGITS:
        raise ValueError(f"A rate has at most {RATE_INTEGER_DIGITS} digits before the point.")
    return rate


def parse_as_of(text: str) -> dt.datetime:
    """An ISO 8601 time with its UTC offset ("2026-12-07T16:00:00+01:00", "...Z")."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 time such as 2026-12-07T16:00:00+01:00"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{text!r} has no UTC offset: add one, e.g. 2026-12-07T16:00:00Z")
    return moment


def validate_fx_rate(rate: FxRate, *, now: dt.datetime | None = None) -> None:
    """FxRate.clean(): raise ValidationError naming each field at fault; normalise the codes."""
    errors: dict[str, str] = {}
    for field in ("base", "quote"):
        problem = _currency_error(getattr(rate, field))
        if problem:
            errors[field] = problem
        else:
            setattr(rate, field, getattr(rate, field).upper())
    if not errors and rate.base == rate.quote:
        errors["quote"] = "A rate is between two different currencies."
    if isinstance(rate.rate, Decimal):
        try:
            check_rate(rate.rate)
        except ValueError as exc:
            errors["rate"] = str(exc)
    elif rate.rate is not None:
        errors["rate"] = "A rate is an exact decimal, not a float."
    if rate.as_of is not None:
        if timezone.is_naive(rate.as_of):
            errors["as_of"] = "Give the time with its UTC offset."
        elif rate.as_of > (now or timezone.now()):
            errors["as_of"] = "A rate cannot be from the future."
    if errors:
        raise ValidationError(errors)


# --- the rate a conversion uses --------------------------------------------------------------


@dataclass(frozen=True)
class QuotedRate:
    """The rate to convert `source` into `target`: `rate` target units per source unit (major),
    exact, from the stored row `fx_rate` (inverted if it was quoted target/source)."""

    fx_rate: FxRate
    rate: Fraction
    inverted: bool


def latest_rate(*, source: str, target: str, at: dt.datetime) -> QuotedRate | None:
    """The latest rate at or before `at` between the two currencies, quoted either way; on the
    same `as_of` the direct quote wins. None if there is none."""
    direct = (
        FxRate.objects.filter(base=source, quote=target, as_of__lte=at).order_by("-as_of").first()
    )
    inverse = (
        FxRate.objects.filter(base=target, quote=source, as_of__lte=at).order_by("-as_of").first()
    )
    if direct is not None and (inverse is None or direct.as_of >= inverse.as_of):
        return QuotedRate(direct, Fraction(direct.rate), inverted=False)
    if inverse is not None:
        return QuotedRate(inverse, 1 / Fraction(inverse.rate), inverted=True)
    return None


# --- CSV import ------------------------------------------------------------------------------


class RateImportError(ValueError):
    """The file was refused; nothing was imported. `errors` name their lines."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class ImportResult:
    created: int
    already_recorded: int


def _rows(text: str) -> Iterator[tuple[int, dict[str, str] | None]]:
    """(line number, fields) per data row; None for a row with another number of fields than
    the header. A header without the columns refuses the file at once."""
    reader = csv.DictReader(io.StringIO(text), strict=True)
    columns = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    unknown = [name for name in columns if name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown column(s) {', '.join(unknown)}")
        raise RateImportError(
            [f"line 1: the header must name base,quote,rate,as_of[,source]: {'; '.join(problems)}"]
        )
    reader.fieldnames = columns
    for count, row in enumerate(reader, start=1):
        if count > MAX_IMPORT_ROWS:
            raise RateImportError([f"a file holds at most {MAX_IMPORT_ROWS} rates"])
        if None in row or any(value is None for value in row.values()):
            yield reader.line_num, None
        else:
            yield reader.line_num, {key: value.strip() for key, value in row.items()}


def _rate_from_row(row: dict[str, str] | None, default_source: str, now: dt.datetime) -> FxRate:
    """An unsaved, validated rate from one CSV row; ValidationError otherwise."""
    if row is None:
        raise ValidationError("has another number of fields than the header")
    errors: dict[str, str] = {}
    try:
        rate = parse_rate(row["rate"])
    except ValueError as exc:
        errors["rate"], rate = str(exc), None
    try:
        as_of = parse_as_of(row["as_of"])
    except ValueError as exc:
        errors["as_of"], as_of = str(exc), None
    source = row.get("source") or default_source
    if len(source) > MAX_SOURCE_CHARS:
        errors["source"] = f"Use at most {MAX_SOURCE_CHARS} characters."
    candidate = FxRate(base=row["base"], quote=row["quote"], rate=rate, as_of=as_of, source=source)
    try:
        validate_fx_rate(candidate, now=now)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, messages[0])
    if errors:
        raise ValidationError(errors)
    return candidate


def _describe(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(f"{field}: {msgs[0]}" for field, msgs in error.message_dict.items())
    return "; ".join(error.messages)


def import_rates_csv(text: str, *, source: str, now: dt.datetime | None = None) -> ImportResult:
    """Import the rates of a CSV text (header base,quote,rate,as_of[,source]; `source` stands in
    for an empty source column). All or nothing: any bad line refuses the whole file with every
    line's errors (RateImportError). Idempotent: a rate already recorded with the same value is
    counted, not written again; the same base, quote and time with another rate is an error (a
    correction is a newer rate)."""
    now = now or timezone.now()
    errors: list[str] = []
    parsed: list[tuple[int, FxRate]] = []
    seen: dict[tuple[str, str, dt.datetime], int] = {}
    rows = _rows(text)
    while True:
        try:
            line, row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(f"not a readable CSV file: {exc}")
            break
        try:
            rate = _rate_from_row(row, source, now)
        except ValidationError as exc:
            errors.append(f"line {line}: {_describe(exc)}")
            continue
        key = (rate.base, rate.quote, rate.as_of)
        if key in seen:
            errors.append(f"line {line}: repeats the rate of line {seen[key]}")
            continue
        seen[key] = line
        parsed.append((line, rate))
    if not parsed and not errors:
        errors.append("the file holds no rates")
    new, already = _split_recorded(parsed, errors)
    if errors:
        raise RateImportError(errors)
    try:
        with transaction.atomic():
            FxRate.objects.bulk_create(new)
    except IntegrityError:
        raise RateImportError(
            ["another import recorded some of these rates meanwhile: run this one again"]
        ) from None
    return ImportResult(created=len(new), already_recorded=already)


def _split_recorded(
    parsed: list[tuple[int, FxRate]], errors: list[str]
) -> tuple[list[FxRate], int]:
    """The rates not yet recorded, and how many are (with the same value); a recorded rate with
    another value is an error."""
    if not parsed:
        return [], 0
    pairs = {(rate.base, rate.quote) for _, rate in parsed}
    times = [rate.as_of for _, rate in parsed]
    candidates = FxRate.objects.filter(
        base__in={base for base, _ in pairs},
        quote__in={quote for _, quote in pairs},
        as_of__gte=min(times),
        as_of__lte=max(times),
    )
    recorded = {
        (row.base, row.quote, row.as_of): row
        for row in candidates
        if (row.base, row.quote) in pairs
    }
    new: list[FxRate] = []
    already = 0
    for line, rate in parsed:
        known = recorded.get((rate.base, rate.quote, rate.as_of))
        if known is None:
            new.append(rate)
        elif known.rate == rate.rate:
            already += 1
        else:
            errors.append(
                f"line {line}: {rate.base}/{rate.quote} at {rate.as_of.isoformat()} is already "
                f"recorded as {known.rate} ({known.source}); a correction is a rate with a later "
                "as_of"
            )
    return new, already
