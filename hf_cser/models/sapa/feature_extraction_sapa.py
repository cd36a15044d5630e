"""Feature extractor of SAPA: padded waveforms plus the phoneme-centred windows (SAPA section 3.1).

Window centres come from a phone alignment when there is one (midpoints of the phones that map to the shared vowel
inventory, :data:`hf_cser.data.phones.SHARED_VOWELS`), else from syllable nuclei found by
:func:`hf_cser.data.phones.voiced_energy_peaks`, so that inference needs no aligner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from transformers import BatchFeature, SequenceFeatureExtractor
from transformers.utils import logging

from ...audio import pad_to_min_duration, split_waveform_batch
from ...data.phones import PHONE_SCHEMES, SHARED_VOWELS, WINDOW_MS_TRAINING, to_shared_phone, voiced_energy_peaks

logger = logging.get_logger(__name__)

NON_SPEECH_PHONES = frozenset({"", "sil", "sp", "spn", "pau", "<eps>", "<sil>", "_", "#"})
"""Alignment labels for pauses and noise; never a window centre."""


def _is_speech_phone(phone: str) -> bool:
    label = phone.strip()
    return label.lower() not in NON_SPEECH_PHONES and not label.startswith("_")


def uniform_subsample(num_items: int, max_items: int) -> np.ndarray:
    """Indices of at most `max_items` of `num_items` items, spread uniformly and deterministically (first and last
    always kept)."""
    if num_items <= max_items:
        return np.arange(num_items)
    if max_items == 1:
        return np.array([(num_items - 1) // 2])
    return np.unique(np.rint(np.linspace(0, num_items - 1, max_items)).astype(np.int64))


def select_window_centers(
    waveform: np.ndarray,
    sampling_rate: int = 16_000,
    phonemes: Sequence[Mapping[str, Any]] | None = None,
    language: str | None = None,
    *,
    max_windows: int = 24,
    phone_scheme: str = "espeak",
) -> tuple[np.ndarray, np.ndarray]:
    """Window centres (seconds) and their shared-vowel ids for one utterance.

    With an alignment: the midpoints of the phones that map to :data:`SHARED_VOWELS` (SAPA's phoneme-centred
    windows); if fewer than two do, the midpoints of all speech phones (library choice). Without one (or with an
    empty one): the peaks of :func:`voiced_energy_peaks`, with id -1. At most `max_windows` centres, subsampled
    uniformly; at least one (the utterance centre) for any non-empty audio.

    Returns:
        `tuple[np.ndarray, np.ndarray]`: centres `(num_windows,)` float64 and ids `(num_windows,)` int64 into
        `SHARED_VOWELS`, -1 for windows that are not on a shared vowel.
    """
    duration = len(waveform) / float(sampling_rate)
    centers: list[float] = []
    phone_ids: list[int] = []
    if phonemes:
        speech = [p for p in phonemes if _is_speech_phone(str(p["phone"]))]
        shared = [to_shared_phone(str(p["phone"]), phone_scheme, language or "en") for p in speech]
        vowels = [(p, v) for p, v in zip(speech, shared, strict=True) if v is not None]
        chosen = vowels if len(vowels) >= 2 else list(zip(speech, shared, strict=True))
        for phone, vowel in chosen:
            centers.append(0.5 * (float(phone["start"]) + float(phone["end"])))
            phone_ids.append(SHARED_VOWELS.index(vowel) if vowel is not None else -1)
    if not centers and len(waveform) > 0:
        peaks = voiced_energy_peaks(waveform, sampling_rate)
        centers = [float(t) for t in peaks]
        phone_ids = [-1] * len(centers)
    if not centers and len(waveform) > 0:
        centers, phone_ids = [0.5 * duration], [-1]
    centers_arr = np.asarray(centers, dtype=np.float64)
    ids_arr = np.asarray(phone_ids, dtype=np.int64)
    order = np.argsort(centers_arr, kind="stable")
    keep = order[uniform_subsample(len(order), max_windows)]
    return centers_arr[keep], ids_arr[keep]


class SapaFeatureExtractor(SequenceFeatureExtractor):
    r"""
    Feature extractor of [`SapaForEmotionClassification`]: right-padded 16 kHz waveforms with their attention mask,
    plus the centres of the phoneme-centred windows the model embeds (SAPA section 3.1).

    Audio shorter than one window (`window_ms`) is right-padded with zeros to one window, with a warning
    (`hf_cser.audio.pad_to_min_duration`): its window centres are found on the real samples and its attention mask
    covers the padded window, so the backbone never gets fewer samples than its convolutions need.

    Args:
        feature_size (`int`, *optional*, defaults to 1):
            Channels of `input_values` (raw mono audio).
        sampling_rate (`int`, *optional*, defaults to 16000):
            Expected sampling rate in Hz; resample first with `hf_cser.audio.prepare_waveform`.
        padding_value (`float`, *optional*, defaults to 0.0):
            Value of padded samples.
        window_ms (`float`, *optional*, defaults to 240.0):
            Window length (paper value: 240 ms); stored for reference, the model cuts the windows.
        max_windows (`int`, *optional*, defaults to 24):
            At most this many windows per utterance, uniformly subsampled (library default).
        phone_scheme (`str`, *optional*, defaults to `"espeak"`):
            How alignment phones are spelled (see `hf_cser.data.phones.PHONE_SCHEMES`); overridable per call.
        return_attention_mask (`bool`, *optional*, defaults to `True`):
            Whether to return the sample-level `attention_mask`.
    """

    model_input_names = ["input_values", "attention_mask", "window_centers", "window_mask"]

    def __init__(
        self,
        feature_size: int = 1,
        sampling_rate: int = 16000,
        padding_value: float = 0.0,
        window_ms: float = WINDOW_MS_TRAINING,
        max_windows: int = 24,
        phone_scheme: str = "espeak",
        return_attention_mask: bool = True,
        **kwargs,
    ):
        super().__init__(
            feature_size=feature_size,
            sampling_rate=sampling_rate,
            padding_value=padding_value,
            return_attention_mask=return_attention_mask,
            **kwargs,
        )
        if not window_ms > 0:
            raise ValueError(f"`window_ms` must be positive, got {window_ms!r}.")
        if int(max_windows) != max_windows or max_windows <= 0:
            raise ValueError(f"`max_windows` must be a positive integer, got {max_windows!r}.")
        if phone_scheme not in PHONE_SCHEMES:
            raise ValueError(f"`phone_scheme` must be one of {list(PHONE_SCHEMES)}, got {phone_scheme!r}.")
        self.window_ms = float(window_ms)
        self.max_windows = int(max_windows)
        self.phone_scheme = phone_scheme

    @classmethod
    def from_sapa_arguments(cls, config, **kwargs) -> SapaFeatureExtractor:
        """The feature extractor matching a [`SapaConfig`] (window settings and the speaker encoder's rate)."""
        values = {
            "window_ms": config.window_ms,
            "max_windows": config.max_windows,
            "sampling_rate": int(config.speaker_encoder_config.get("sampling_rate", 16000)),
        }
        values.update(kwargs)
        return cls(**values)

    def __call__(
        self,
        raw_speech: np.ndarray | Sequence[float] | Sequence[np.ndarray],
        sampling_rate: int | None = 16000,
        phonemes: Sequence[Sequence[Mapping[str, Any]] | None] | None = None,
        languages: Sequence[str | None] | str | None = None,
        phone_scheme: str | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
        **kwargs,
    ) -> BatchFeature:
        """
        Pad one or several utterances and find their window centres.

        Args:
            raw_speech (`np.ndarray`, `list[float]`, `list[np.ndarray]`):
                One 1-D waveform or a batch of them, at `sampling_rate` Hz.
            sampling_rate (`int`, *optional*, defaults to 16000):
                Rate of `raw_speech`; must equal the extractor's.
            phonemes (`list[list[dict]]`, *optional*):
                Per utterance, a phone alignment `[{"phone", "start", "end"}]` in seconds (the schema's `phonemes`
                column), or `None`/`[]` for energy-peak windows. For a single utterance, its alignment list.
            languages (`list[str]` or `str`, *optional*):
                Per utterance language code, used to map `"espeak"` phones; `"en"` when missing.
            phone_scheme (`str`, *optional*):
                Overrides `self.phone_scheme` for this call.
            return_tensors (`str`, *optional*):
                `"pt"` or `"np"`.

        Returns:
            [`BatchFeature`] with `input_values` `(batch, max_samples)`, `attention_mask`, `window_centers`
            `(batch, max_windows_in_batch)` in seconds, `window_mask` and `window_phones` (ids into
            `SHARED_VOWELS`, -1 for other windows and padding).
        """
        if sampling_rate is None:
            logger.warning(
                f"No `sampling_rate` passed to {self.__class__.__name__}; assuming {self.sampling_rate} Hz."
            )
        elif sampling_rate != self.sampling_rate:
            raise ValueError(
                f"{self.__class__.__name__} expects audio at {self.sampling_rate} Hz, got {sampling_rate} Hz. "
                "Resample first with `hf_cser.audio.prepare_waveform(array, sampling_rate)`."
            )
        waveforms, is_batched = split_waveform_batch(raw_speech)
        if is_batched:
            if phonemes is not None and len(phonemes) > 0 and isinstance(phonemes[0], Mapping):
                raise ValueError("`phonemes` must hold one alignment (a list of phones) per utterance of the batch.")
        else:
            if phonemes is not None and (len(phonemes) == 0 or isinstance(phonemes[0], Mapping)):
                phonemes = [phonemes]
            if isinstance(languages, str) or languages is None:
                languages = [languages]
        if isinstance(languages, str) or languages is None:
            languages = [languages] * len(waveforms)
        if phonemes is None:
            phonemes = [None] * len(waveforms)
        for field, values in (("phonemes", phonemes), ("languages", languages)):
            if len(values) != len(waveforms):
                raise ValueError(f"`{field}` has {len(values)} entries for {len(waveforms)} utterances.")
        for index, waveform in enumerate(waveforms):
            if waveform.ndim != 1 or waveform.size == 0:
                raise ValueError(
                    f"Utterance {index} must be a non-empty mono 1-D waveform, got shape {waveform.shape}; "
                    "`hf_cser.audio.prepare_waveform` converts stereo and integer audio."
                )
        scheme = phone_scheme or self.phone_scheme

        windows = [
            select_window_centers(w, self.sampling_rate, p, lang, max_windows=self.max_windows, phone_scheme=scheme)
            for w, p, lang in zip(waveforms, phonemes, languages, strict=True)
        ]
        # audio shorter than one window: zero-padded to one window (with a warning), the centres stay on the audio
        waveforms = [
            pad_to_min_duration(w, self.sampling_rate, self.window_ms, source=f"{type(self).__name__}: utterance {i}")
            for i, w in enumerate(waveforms)
        ]
        batch = len(waveforms)
        max_samples = max(len(w) for w in waveforms)
        max_n = max(len(c) for c, _ in windows)
        input_values = np.full((batch, max_samples), self.padding_value, dtype=np.float32)
        attention_mask = np.zeros((batch, max_samples), dtype=np.int64)
        window_centers = np.zeros((batch, max_n), dtype=np.float32)
        window_mask = np.zeros((batch, max_n), dtype=np.int64)
        window_phones = np.full((batch, max_n), -1, dtype=np.int64)
        for i, (waveform, (centers, ids)) in enumerate(zip(waveforms, windows, strict=True)):
            input_values[i, : len(waveform)] = waveform
            attention_mask[i, : len(waveform)] = 1
            window_centers[i, : len(centers)] = centers
            window_mask[i, : len(centers)] = 1
            window_phones[i, : len(ids)] = ids
        data = {"input_values": input_values}
        if self.return_attention_mask if return_attention_mask is None else return_attention_mask:
            data["attention_mask"] = attention_mask
        data.update(window_centers=window_centers, window_mask=window_mask, window_phones=window_phones)
        return BatchFeature(data, tensor_type=return_tensors)


__all__ = ["NON_SPEECH_PHONES", "SapaFeatureExtractor", "select_window_centers", "uniform_subsample"]
