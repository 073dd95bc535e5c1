"""What new rows hold that training never saw, counted while ``toolkit predict`` and
``evaluate`` stream them.

The model takes such rows without complaint: a category outside the vocabulary goes to the
out-of-vocabulary bucket, a missing number gets the training mean. That is the right thing to
score, but a user should hear that it happened (a misspelt category, a column that came out
empty from an export), so predict reports it, one line per column and kind of value, as
``InputWarning``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from toolkit.data.preprocessing import IMAGE_INPUT, MISSING_TOKEN, NUMERIC_INPUT

if TYPE_CHECKING:
    from toolkit.data.preprocessing import FeatureSpec
    from toolkit.data.sources.base import InputChunk

# Unseen values named in a finding (the commonest first); the rest are counted.
SHOWN_VALUES = 3
# Distinct unseen values counted per column: an id column read as a category would otherwise
# grow the counter with every row of a 10-million-row input (predict runs in flat memory).
TRACKED_VALUES = 1_000
# How far beyond the run's pixel value range (a fraction of its span) an image's pixels may go
# before it is reported: a little over is noise or resampling; 0..255 given to a run on
# [0, 1] is 255 spans over.
IMAGE_RANGE_MARGIN = 0.5
# A run whose pixel value range spans more than this (0..255, digits' 0..16) is told when
# new images hold fractions all within [0, 1]: pixels scaled as many pipelines save them.
UNIT_RANGE_SPANS = 4.0


class InputWarning(UserWarning):
    """New rows hold values training never saw; they were scored anyway."""


class InputAudit:
    """Counts, per feature column, the rows whose value training never saw: categories
    outside the vocabulary, missing values in a column that had none in training (numbers
    get the training mean, categories the out-of-vocabulary bucket). An infinite number never
    gets here: predict and evaluate refuse one, as training does."""

    def __init__(
        self, spec: FeatureSpec, *, target_range: list[float | None] | None = None
    ) -> None:
        """``target_range``: the run's ``prediction.target_range``; targets given to
        ``targets`` outside it are counted (training refused them)."""
        self.spec = spec
        self.target_range = target_range
        self.target_rows = 0
        self.targets_outside = 0
        self.rows = 0
        self.missing: Counter[str] = Counter()
        self.unseen_rows: Counter[str] = Counter()
        self.images_outside = 0
        self.images_unit = 0
        self.unseen: dict[str, Counter[str]] = {f.name: Counter() for f in spec.categorical}
        self._vocabularies = {
            f.name: np.asarray(f.vocabulary, dtype=object) for f in spec.categorical
        }

    def watch(self, chunks: Iterable[InputChunk]) -> Iterator[InputChunk]:
        """Pass ``chunks`` through, counting as they go."""
        for chunk in chunks:
            self.counted(chunk.features)
            yield chunk

    def counted(self, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Count the rows of encoded ``features``; returns them."""
        self._count(features)
        return features

    def _count(self, features: dict[str, np.ndarray]) -> None:
        self.rows += len(next(iter(features.values())))
        if self.spec.numeric:
            missing = np.isnan(features[NUMERIC_INPUT]).sum(axis=0)
            for feature, count in zip(self.spec.numeric, missing, strict=True):
                if count:
                    self.missing[feature.name] += int(count)
        images = features.get(IMAGE_INPUT)
        if self.spec.image is not None and images is not None and images.dtype.kind == "f":
            low, high = self.spec.image.value_range
            margin = IMAGE_RANGE_MARGIN * (high - low)
            pixels = images.reshape(len(images), -1)
            if pixels.shape[1]:
                far = (pixels.min(axis=1) < low - margin) | (pixels.max(axis=1) > high + margin)
                self.images_outside += int(far.sum())
                if high - low > UNIT_RANGE_SPANS:
                    # Pixels scaled to [0, 1] given to a run on 0..255 lie inside its range,
                    # near black: predictions at chance without a word. A fraction tells them
                    # from a dark 0..255 image, whose pixels are whole numbers.
                    unit = (pixels.min(axis=1) >= 0) & (pixels.max(axis=1) <= 1)
                    fractional = (pixels != np.round(pixels)).any(axis=1)
                    self.images_unit += int((unit & fractional).sum())
        for feature in self.spec.categorical:
            values = features[feature.name].reshape(-1)
            outside = values[~np.isin(values, self._vocabularies[feature.name])]
            if not len(outside):
                continue
            absent = outside == MISSING_TOKEN
            self.missing[feature.name] += int(absent.sum())
            self.unseen_rows[feature.name] += int((~absent).sum())
            if len(self.unseen[feature.name]) < TRACKED_VALUES:  # bounded: a chunk beyond
                self.unseen[feature.name].update(outside[~absent].tolist())

    def targets(self, target: np.ndarray) -> np.ndarray:
        """Count the rows of an encoded regression ``target`` outside ``target_range``;
        returns it."""
        if self.target_range is not None:
            low, high = self.target_range
            values = np.asarray(target, dtype=np.float64).reshape(len(target), -1)[:, 0]
            outside = np.zeros(len(values), dtype=bool)
            if low is not None:
                outside |= values < low
            if high is not None:
                outside |= values > high
            self.targets_outside += int(outside.sum())
            self.target_rows += len(values)
        return target

    def _shown(self, feature, value: str) -> str:
        """``value`` as a finding names it, and, when it spells a vocabulary category in
        another Unicode form ('île' with a combining accent, as macOS may write it, for
        the precomposed 'île' training read), which: the line named a value that looked
        exactly like a training category."""
        from toolkit.text import nfc, unicode_form

        text = repr(value)
        if not isinstance(value, str) or value.isascii():  # one form only
            return text
        known = [token for token in feature.vocabulary if nfc(token) == nfc(value)]
        if not known:
            return text
        return (
            f"{text} [training's {known[0]!r} in another Unicode form: "
            f"{unicode_form(value)} against {unicode_form(known[0])}]"
        )

    def findings(self) -> list[str]:
        """One line per column and kind of value training never saw (a column with unseen
        categories and missing values gets two), in the spec's order."""
        lines = []
        if self.targets_outside:
            low, high = ("null" if bound is None else f"{bound:g}" for bound in self.target_range)
            lines.append(
                f"target column '{self.spec.target.name}': {self.targets_outside} of "
                f"{self.target_rows} rows lie outside prediction.target_range [{low}, {high}], "
                "which training refused; predictions and intervals stay inside it, so those "
                "rows are scored as misses"
            )
        if self.images_outside:
            low, high = self.spec.image.value_range
            lines.append(
                f"images: {self.images_outside} of {self.rows} rows hold pixels far outside "
                f"the run's value range [{low:g}, {high:g}] (data.image.value_range), which "
                "the model rescales from; their predictions are not meaningful (scale the "
                "pixels as training had them)"
            )
        if self.images_unit:
            low, high = self.spec.image.value_range
            lines.append(
                f"images: {self.images_unit} of {self.rows} rows hold pixels all within [0, 1], "
                f"the run's value range is [{low:g}, {high:g}] (data.image.value_range); if "
                f"they were scaled to [0, 1], scale them back to [{low:g}, {high:g}] as training "
                "had them: their predictions are not meaningful otherwise"
            )
        for feature in self.spec.numeric:
            count = self.missing[feature.name]
            if count and not feature.missing:  # imputing was part of training otherwise
                lines.append(
                    f"column '{feature.name}': {count} of {self.rows} rows are missing, which "
                    "training never had; the training mean was used"
                )
        for feature in self.spec.categorical:
            unseen = self.unseen[feature.name]
            if unseen:
                shown = ", ".join(
                    self._shown(feature, value) for value, _ in unseen.most_common(SHOWN_VALUES)
                )
                more = len(unseen) - SHOWN_VALUES
                if len(unseen) >= TRACKED_VALUES:
                    others = " and others"
                else:
                    others = f" and {more} more" if more > 0 else ""
                # With a capped vocabulary, a value outside it may have been seen in
                # training and left out by data.max_tokens: the words must not say "never".
                kept = len(feature.vocabulary)
                what = (
                    f"categories outside its vocabulary, the {kept} commonest of the "
                    f"{kept + feature.out_of_vocabulary} training had (data.max_tokens): left "
                    "out by that cap or never seen"
                    if feature.out_of_vocabulary
                    else "categories never seen in training"
                )
                lines.append(
                    f"column '{feature.name}': {self.unseen_rows[feature.name]} of {self.rows} "
                    f"rows hold {what} ({shown}{others}); they were scored as the "
                    "out-of-vocabulary bucket"
                )
            # Training had missing values left out of a capped vocabulary: nothing new.
            if self.missing[feature.name] and not feature.missing:
                lines.append(
                    f"column '{feature.name}': {self.missing[feature.name]} of {self.rows} rows "
                    "are missing, which training never had; they were scored as the "
                    "out-of-vocabulary bucket"
                )
        return lines
