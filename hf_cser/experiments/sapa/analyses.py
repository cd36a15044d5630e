"""SAPA's analyses of a trained run (paper sections 2 and 4.4): Table 1 / Fig. 1 speaker-style graphs, Tables 2 / 3
phoneme commonality and anchors, Table 5 speaker-group transferability. Diagnostic only: they read target labels after
training."""

from __future__ import annotations

import contextlib
import os

import numpy as np

from .arguments import resolve_tau_quantile


def utterance_speaker_embeddings(rows) -> np.ndarray:
    """Utterance-level speaker embedding: the L2-normalised mean of its windows' GE2E embeddings."""
    out = []
    for feats in rows["speaker_features"]:
        v = np.asarray(feats, dtype=np.float64).mean(axis=0)
        out.append(v / max(np.linalg.norm(v), 1e-12))
    return np.stack(out)


@contextlib.contextmanager
def window_length(model, feature_extractor, window_ms: float):
    """Temporarily switch model and feature extractor to another window length (the 120 ms analysis windows)."""
    saved = model.config.window_ms, feature_extractor.window_ms
    model.config.window_ms, feature_extractor.window_ms = window_ms, window_ms
    try:
        yield
    finally:
        model.config.window_ms, feature_extractor.window_ms = saved


def run_analyses(
    args_out_dir,
    data_args,
    model,
    feature_extractor,
    train_dict,
    target_test,
    train_feats,
    target_feats,
    target_preds,
    seed,
):
    """Paper section 2 and 4.4 analyses in `<args_out_dir>/analysis/`, with the files and names of `hf-cser analyze`
    (`hf_cser.analysis.reports`); diagnostic only (they read target labels after training). Returns the files written
    per analysis and the anchor phonemes."""
    from hf_cser.analysis import SpeakerStyleGraph
    from hf_cser.analysis.phoneme_commonality import phoneme_similarity_table, select_anchor_phonemes
    from hf_cser.analysis.reports import (
        write_phoneme_commonality_report,
        write_speaker_graph_report,
        write_transferability_report,
    )
    from hf_cser.analysis.transferability import groupings_from_speaker_graph, speaker_group_transferability
    from hf_cser.models.sapa.feature_cache import compute_window_features

    out = os.path.join(args_out_dir, "analysis")
    os.makedirs(out, exist_ok=True)
    written = {}
    # Table 1 / Fig. 1: speaker-style graphs over the source training speakers and the target test speakers
    emb = np.concatenate([utterance_speaker_embeddings(train_feats), utterance_speaker_embeddings(target_feats)])
    speakers = list(train_feats["speaker"]) + list(target_feats["speaker"])
    emotions = np.array(list(train_feats["emotion"]) + list(target_feats["emotion"]))
    corpus = {s: lang for s, lang in zip(speakers, list(train_feats["language"]) + list(target_feats["language"]))}
    graph = SpeakerStyleGraph(tau=data_args.graph_tau, seed=seed, tau_quantile=resolve_tau_quantile(data_args)).fit(
        emb, speakers, emotions, speaker_corpus=corpus
    )
    written["speaker_graph"] = [str(p) for p in write_speaker_graph_report(graph, out)]
    # Table 5: per-cluster target accuracy for w/ Emo, w/o Emo and Rand groupings
    transfer = speaker_group_transferability(
        target_preds,
        np.asarray(target_feats["emotion"]),
        list(target_feats["speaker"]),
        groupings_from_speaker_graph(graph),
    )
    written["transferability"] = [str(p) for p in write_transferability_report(transfer, out)]
    # Tables 2 / 3: phoneme commonality from 120 ms windows of the frozen content encoder
    with window_length(model, feature_extractor, 120.0):
        cache_dir = data_args.feature_cache_dir
        src = compute_window_features(model, feature_extractor, train_dict["train"], cache_dir=cache_dir)
        tgt = compute_window_features(model, feature_extractor, target_test, cache_dir=cache_dir)
    windows, phones, emos, groups = [], [], [], []
    for rows in (src, tgt):
        for feats, ph, emo, lang in zip(
            rows["content_features"], rows["window_phones"], rows["emotion"], rows["language"]
        ):
            windows.append(np.asarray(feats, dtype=np.float32))
            phones.extend(ph)
            emos.extend([emo] * len(ph))
            groups.extend([lang] * len(ph))
    table = phoneme_similarity_table(np.concatenate(windows), np.asarray(phones), np.asarray(emos), np.asarray(groups))
    anchors = select_anchor_phonemes(table, rule=data_args.anchor_rule)
    written["anchor_phonemes"] = anchors
    written["phoneme_commonality"] = [str(p) for p in write_phoneme_commonality_report(table, anchors, out)]
    return written
