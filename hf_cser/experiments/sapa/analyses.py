"""SAPA's analyses of a trained run (paper sections 2 and 4.4): Table 1 / Fig. 1 speaker-style graphs, Tables 2 / 3
phoneme commonality and anchors, Table 5 speaker-group transferability. Diagnostic only: they read target labels after
training."""

from __future__ import annotations

import contextlib
import json
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
    """Paper section 2 and 4.4 analyses; diagnostic only (they read target labels after training)."""
    from hf_cser.analysis import SpeakerStyleGraph
    from hf_cser.analysis.phoneme_commonality import (
        anchor_rows,
        phoneme_similarity_table,
        plot_phoneme_similarity,
        save_rows,
        select_anchor_phonemes,
    )
    from hf_cser.analysis.transferability import (
        groupings_from_speaker_graph,
        plot_transferability,
        speaker_group_transferability,
    )
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
    written["speaker_graph_table"] = str(graph.save_summary(os.path.join(out, "table1_speaker_graphs.json")))
    graph.save_summary(os.path.join(out, "table1_speaker_graphs.csv"))
    written["speaker_graph_plots"] = [str(p) for p in graph.plot(out)]
    # Table 5: per-cluster target accuracy for w/ Emo, w/o Emo and Rand groupings
    transfer = speaker_group_transferability(
        target_preds,
        np.asarray(target_feats["emotion"]),
        list(target_feats["speaker"]),
        groupings_from_speaker_graph(graph),
    )
    save_rows(transfer.rows, os.path.join(out, "table5_transferability.csv"))
    with open(os.path.join(out, "table5_transferability.json"), "w") as f:
        json.dump({"table": transfer.table(), "rows": transfer.rows}, f, indent=2, default=str)
    written["transferability_plot"] = str(plot_transferability(transfer, os.path.join(out, "table5.png")))
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
    table.save(os.path.join(out, "table2_phoneme_similarity.json"))
    table.save(os.path.join(out, "table2_phoneme_similarity.csv"))
    anchors = select_anchor_phonemes(table, rule=data_args.anchor_rule)
    save_rows(anchor_rows(anchors), os.path.join(out, "table3_anchor_phonemes.csv"))
    written["anchor_phonemes"] = anchors
    written["phoneme_plots"] = [str(p) for p in plot_phoneme_similarity(table, out, anchors=anchors)]
    return written
