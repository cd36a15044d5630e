"""Reference numbers for the synthetic corpus: how learnable emotion is, within and across languages.

Generates the default synthetic corpus (or reuses/loads ``--output``), reports the generation speed (x real time,
when it had to synthesise), then trains a linear classifier (scikit-learn ``LogisticRegression`` on standardised
mean + std of 40 log-mel bands) and reports the unweighted average recall (UAR, macro recall; chance = 0.25):

- within-language: speaker-independent cross-validation inside one language (leave one speaker out: train on the
  other speakers, test on the held-out one, pooled predictions), which is far less noisy than the two test speakers
  of the default 8/2/2 split; the fixed ``train``+``validation`` -> ``test`` split is reported too;
- cross-language: train on all speakers of one language, test on all speakers of every other language.

Prints a Markdown table and a JSON line. Example::

    python benchmarks/synthetic_reference.py --output /tmp/synthetic_default --num-proc 2
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from hf_cser.cltm.features import mel_filterbank  # the library's filters (also used by CLTM)


def log_mel_statistics(waveform: np.ndarray, sampling_rate: int, fb: np.ndarray, n_fft: int = 512) -> np.ndarray:
    """Mean and standard deviation over time of 40 log-mel bands (25 ms Hann windows, 10 ms hop)."""
    win, hop = int(0.025 * sampling_rate), int(0.010 * sampling_rate)
    if len(waveform) < win:
        waveform = np.pad(waveform, (0, win - len(waveform)))
    n_frames = 1 + (len(waveform) - win) // hop
    idx = np.arange(win)[None, :] + hop * np.arange(n_frames)[:, None]
    frames = waveform[idx] * np.hanning(win)[None, :]
    power = np.abs(np.fft.rfft(frames, n=n_fft, axis=1)) ** 2
    logmel = np.log(power @ fb.T + 1e-10)
    return np.concatenate([logmel.mean(axis=0), logmel.std(axis=0)])


def extract_features(dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from hf_cser.audio import load_audio

    fb = mel_filterbank(16000, 512, 40)
    feats = np.stack([log_mel_statistics(load_audio(p), 16000, fb) for p in dataset["audio"]])
    return feats, np.asarray(dataset["emotion"]), np.asarray(dataset["language"]), np.asarray(dataset["speaker"])


def uar(y_true, y_pred) -> float:
    from sklearn.metrics import recall_score

    return float(recall_score(y_true, y_pred, average="macro"))


def fit_predict(x_train, y_train, x_test) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    return model.fit(x_train, y_train).predict(x_test)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default="synthetic_corpus_reference", help="corpus folder (created or reused)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--separability", type=float, default=None, help="defaults to the config default")
    parser.add_argument("--languages", default=None, help="comma-separated, defaults to the config default")
    parser.add_argument("--num-proc", type=int, default=1)
    args = parser.parse_args(argv)

    from datasets import concatenate_datasets

    from hf_cser.data.synthetic import CONFIG_FILE, SyntheticCorpusConfig, synthesize_corpus

    kwargs = {"seed": args.seed}
    if args.separability is not None:
        kwargs["separability"] = args.separability
    if args.languages:
        kwargs["languages"] = args.languages
    config = SyntheticCorpusConfig(**kwargs)
    start = time.perf_counter()
    corpus = synthesize_corpus(config, args.output, num_proc=args.num_proc)
    elapsed = time.perf_counter() - start
    with open(os.path.join(args.output, CONFIG_FILE), encoding="utf-8") as f:
        audio_seconds = json.load(f)["total_audio_seconds"]

    split_of = {}
    parts = []
    for split in ("train", "validation", "test"):
        parts.append(corpus[split])
        split_of[split] = len(corpus[split])
    everything = concatenate_datasets(parts)
    x, y, lang, speaker = extract_features(everything)
    split = np.concatenate([np.full(n, s) for s, n in split_of.items()])

    languages = list(config.languages)
    within, within_split, cross = {}, {}, {}
    for src in languages:
        in_lang = np.flatnonzero(lang == src)
        pred = np.empty(len(in_lang), dtype=y.dtype)
        for held_out in np.unique(speaker[in_lang]):
            test = speaker[in_lang] == held_out
            pred[test] = fit_predict(x[in_lang[~test]], y[in_lang[~test]], x[in_lang[test]])
        within[src] = uar(y[in_lang], pred)
        train = (lang == src) & (split != "test")
        test = (lang == src) & (split == "test")
        if test.any():
            within_split[src] = uar(y[test], fit_predict(x[train], y[train], x[test]))
        all_src = lang == src
        for tgt in languages:
            if tgt != src:
                target = lang == tgt
                cross[f"{src}->{tgt}"] = uar(y[target], fit_predict(x[all_src], y[all_src], x[target]))

    result = {
        "seed": args.seed,
        "separability": config.separability,
        "languages": languages,
        "num_utterances": int(len(y)),
        "audio_seconds": audio_seconds,
        "generation_seconds": round(elapsed, 2),
        "x_real_time": round(audio_seconds / elapsed, 1) if elapsed > 1.0 else None,  # None: corpus was cached
        "within_language_uar": {k: round(v, 3) for k, v in within.items()},
        "within_language_uar_fixed_split": {k: round(v, 3) for k, v in within_split.items()},
        "cross_language_uar": {k: round(v, 3) for k, v in cross.items()},
        "mean_within_uar": round(float(np.mean(list(within.values()))), 3),
        "mean_cross_uar": round(float(np.mean(list(cross.values()))), 3),
    }
    print(f"synthetic corpus, seed {args.seed}, separability {config.separability}: UAR (chance 0.25)\n")
    print("| train \\ test | " + " | ".join(languages) + " |")
    print("|---" * (len(languages) + 1) + "|")
    for src in languages:
        cells = [f"**{within[src]:.3f}**" if tgt == src else f"{cross[f'{src}->{tgt}']:.3f}" for tgt in languages]
        print(f"| {src} | " + " | ".join(cells) + " |")
    print("\ndiagonal: within-language, leave-one-speaker-out; off-diagonal: train on all speakers of the row's")
    print("language, test on all speakers of the column's language")
    within_mean, cross_mean = result["mean_within_uar"], result["mean_cross_uar"]
    print(f"\nmean within-language UAR {within_mean:.3f}, mean cross-language {cross_mean:.3f}")
    if result["x_real_time"]:
        print(f"generation: {audio_seconds:.0f} s of audio in {elapsed:.1f} s ({result['x_real_time']}x real time)")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
