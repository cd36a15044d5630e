"""A small ctypes binding to the espeak-ng C API (``speak_lib.h``), as shipped by the ``espeakng-loader`` wheel.

Only what the synthetic corpus needs: synthesise text (plain or SSML) with a voice and prosody parameters and get
back the 22.05 kHz int16 waveform plus the phoneme events (``espeakEVENT_PHONEME``, type 7) with their start times.

espeak-ng is a process-wide singleton: one synthesis at a time per process. :func:`get_synthesizer` returns the one
:class:`EspeakSynthesizer` of this process; parallelise with processes, not threads.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import numpy as np
from transformers.utils import logging

logger = logging.get_logger(__name__)

# speak_lib.h constants
AUDIO_OUTPUT_RETRIEVAL = 1
ESPEAK_INITIALIZE_PHONEME_EVENTS = 0x0001
ESPEAK_CHARS_UTF8 = 1
ESPEAK_SSML = 0x10
EVENT_LIST_TERMINATED = 0
EVENT_PHONEME = 7
PARAM_RATE = 1
PARAM_VOLUME = 2
PARAM_PITCH = 3
PARAM_RANGE = 4
PARAM_WORDGAP = 7

INSTALL_HINT = (
    "The synthetic corpus needs espeak-ng through the `espeakng-loader` wheel: `pip install espeakng-loader` "
    "(about 21 MB, no system package needed)."
)


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _EspeakEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_EspeakEvent)
)


@dataclass
class EspeakResult:
    """The output of one :meth:`EspeakSynthesizer.synthesize` call.

    Attributes:
        waveform (`np.ndarray`): int16 samples, shape ``(time,)``.
        sampling_rate (`int`): espeak's output rate (22050 Hz).
        phonemes (`list[tuple[str, float, float]]`): ``(phone, start, end)`` in seconds; start is the event's
            ``audio_position``, end is the next phoneme event's start or the end of the audio. Zero-length events
            (several phonemes reported at the same millisecond) are dropped.
    """

    waveform: np.ndarray
    sampling_rate: int
    phonemes: list[tuple[str, float, float]]

    @property
    def duration(self) -> float:
        return len(self.waveform) / float(self.sampling_rate)


class EspeakSynthesizer:
    """The espeak-ng library of this process, initialised for audio retrieval with phoneme events.

    Use :func:`get_synthesizer` rather than building one: espeak-ng keeps global state.
    """

    def __init__(self):
        try:
            import espeakng_loader
        except ImportError as err:
            raise ImportError(INSTALL_HINT) from err
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.restype = ctypes.c_int
        # espeak-ng draws noise from its own generator; it is reseeded before every synthesis (the pitch-flutter
        # phase is the only other state carried between calls).
        self._set_rand_seed = getattr(lib, "espeak_ng_SetRandSeed", None)
        if self._set_rand_seed is not None:
            self._set_rand_seed.argtypes = [ctypes.c_long]
            self._set_rand_seed.restype = None
        data_path = espeakng_loader.get_data_path().encode("utf-8")
        rate = lib.espeak_Initialize(AUDIO_OUTPUT_RETRIEVAL, 0, data_path, ESPEAK_INITIALIZE_PHONEME_EVENTS)
        if rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed (returned {rate}) with data path {data_path!r}.")
        self.lib = lib
        self.sampling_rate = int(rate)
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, str]] = []
        self._callback = _SYNTH_CALLBACK(self._on_audio)  # keep a reference: espeak holds the raw pointer
        lib.espeak_SetSynthCallback(self._callback)
        self._lock = threading.Lock()

    def _on_audio(self, wav, numsamples, events) -> int:
        if numsamples > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
        i = 0
        while events[i].type != EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == EVENT_PHONEME:
                phone = event.id.string.decode("utf-8", errors="replace").strip()
                if phone:
                    self._events.append((int(event.audio_position), phone))
            i += 1
        return 0

    def synthesize(
        self,
        text: str,
        voice: str,
        rate: int = 175,
        pitch: int = 50,
        pitch_range: int = 50,
        volume: int = 100,
        ssml: bool = False,
        rand_seed: int = 0,
    ) -> EspeakResult:
        """Synthesise ``text`` and return the waveform and the phoneme timings.

        Args:
            text (`str`): UTF-8 text; SSML markup (``<break time="200ms"/>``, ``<prosody>``) when ``ssml``.
            voice (`str`): espeak voice name, language plus variant, e.g. ``"en+m3"``, ``"cmn+f2"``.
            rate (`int`, *optional*, defaults to 175): words per minute (espeak accepts about 80-450).
            pitch (`int`, *optional*, defaults to 50): base pitch, 0-100.
            pitch_range (`int`, *optional*, defaults to 50): pitch range, 0-100 (0 is monotone).
            volume (`int`, *optional*, defaults to 100): amplitude, 0-200.
            ssml (`bool`, *optional*, defaults to `False`): interpret SSML markup in ``text``.
            rand_seed (`int`, *optional*, defaults to 0): seed of espeak-ng's internal noise generator.

        espeak-ng keeps a pitch-flutter phase between calls, so the samples of one call depend (slightly) on what the
        process synthesised before; render in a fresh process when byte-identical output matters.

        Returns:
            :class:`EspeakResult`
        """
        with self._lock:
            if self.lib.espeak_SetVoiceByName(voice.encode("utf-8")) != 0:
                raise ValueError(f"espeak-ng has no voice {voice!r}; use `<language>+<variant>` such as 'en+m3'.")
            for param, value, low, high in (
                (PARAM_RATE, rate, 80, 450),
                (PARAM_VOLUME, volume, 0, 200),
                (PARAM_PITCH, pitch, 0, 100),
                (PARAM_RANGE, pitch_range, 0, 100),
            ):
                self.lib.espeak_SetParameter(param, int(min(max(round(value), low), high)), 0)
            if self._set_rand_seed is not None:
                self._set_rand_seed(int(rand_seed))
            self._chunks, self._events = [], []
            data = text.encode("utf-8")
            flags = ESPEAK_CHARS_UTF8 | (ESPEAK_SSML if ssml else 0)
            err = self.lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, flags, None, None)
            if err != 0:
                raise RuntimeError(f"espeak_Synth failed with error {err} for voice {voice!r} and text {text!r}.")
            self.lib.espeak_Synchronize()
            chunks, events = self._chunks, self._events
            self._chunks, self._events = [], []
        waveform = np.concatenate(chunks).astype(np.int16) if chunks else np.zeros(0, dtype=np.int16)
        duration = len(waveform) / float(self.sampling_rate)
        phonemes: list[tuple[str, float, float]] = []
        for i, (start_ms, phone) in enumerate(events):
            start = start_ms / 1000.0
            end = events[i + 1][0] / 1000.0 if i + 1 < len(events) else duration
            end = min(end, duration)
            if end > start:
                phonemes.append((phone, start, end))
        return EspeakResult(waveform=waveform, sampling_rate=self.sampling_rate, phonemes=phonemes)


_SYNTHESIZER: EspeakSynthesizer | None = None


def get_synthesizer() -> EspeakSynthesizer:
    """The process-wide :class:`EspeakSynthesizer`, initialised on first use."""
    global _SYNTHESIZER
    if _SYNTHESIZER is None:
        _SYNTHESIZER = EspeakSynthesizer()
    return _SYNTHESIZER
