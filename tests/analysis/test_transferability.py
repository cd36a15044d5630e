"""SAPA speaker-group transferability (Table 5): per-cluster accuracy vs a brute-force loop, groupings, Rand, files."""

import json

import numpy as np
import pytest

from hf_cser.analysis import (
    RANDOM_UTTERANCES,
    SpeakerStyleGraph,
    assign_speakers_to_clusters,
    broadcast_grouping,
    groupings_from_speaker_graph,
    plot_transferability,
    random_speaker_groupings,
    read_table,
    speaker_group_transferability,
    summarize_clusters,
)
from hf_cser.analysis.transferability import cluster_scores, random_utterance_groups, utterance_clusters

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def brute_force_cluster_accuracy(predictions, labels, speakers, grouping, emotion, only_label=None):
    """{cluster: accuracy} by an explicit loop over clusters and utterances."""
    out = {}
    for cluster in set(grouping.values()):
        members = {s for (s, e), c in grouping.items() if e == emotion and c == cluster}
        hits = total = 0
        for p, y, s in zip(predictions, labels, speakers):
            if s in members and (only_label is None or y == only_label):
                total += 1
                hits += int(p == y)
        if total:
            out[cluster] = hits / total
    return out


def random_case(seed=0, num_utterances=300, num_speakers=12):
    rng = np.random.default_rng(seed)
    speakers = rng.integers(0, num_speakers, num_utterances)
    labels = rng.integers(0, 4, num_utterances)
    predictions = np.where(rng.random(num_utterances) < 0.6, labels, rng.integers(0, 4, num_utterances))
    # emotion 0 groups speakers by s // 4, emotion 1 by s % 3; speaker 11 is not a node of emotion 1
    grouping = {(int(s), 0): int(s) // 4 for s in range(num_speakers)}
    grouping.update({(int(s), 1): 10 + int(s) % 3 for s in range(num_speakers - 1)})
    return predictions, labels, speakers, grouping


@pytest.mark.parametrize("scope", ["all", "emotion"])
def test_per_cluster_accuracy_matches_brute_force(scope):
    predictions, labels, speakers, grouping = random_case()
    result = speaker_group_transferability(predictions, labels, speakers, {"w/ Emo": grouping}, scope=scope)
    assert result.emotions == ["neutral", "happy"]
    for e in (0, 1):
        expected = brute_force_cluster_accuracy(
            predictions, labels, speakers, grouping, e, only_label=e if scope == "emotion" else None
        )
        got = {r["cluster"]: r["accuracy"] for r in result.cluster_rows if r["emotion_id"] == e}
        assert got.keys() == expected.keys()
        for cluster, value in expected.items():
            assert got[cluster] == pytest.approx(value)
        row = next(r for r in result.rows if r["emotion_id"] == e)
        values = np.array(list(expected.values()))
        assert row["mean_accuracy"] == pytest.approx(values.mean())
        assert row["std_accuracy"] == pytest.approx(values.std())
        assert (row["min_accuracy"], row["max_accuracy"]) == (pytest.approx(values.min()), pytest.approx(values.max()))
        assert row["num_clusters"] == len(expected) and row["num_draws"] == 1


def test_hand_computed_example_with_weighted_mean_and_uar():
    # speakers a, b in cluster 0; c in cluster 1; d has no cluster (ignored)
    speakers = np.array(["a", "a", "b", "b", "c", "c", "c", "d"])
    labels = np.array([0, 1, 2, 3, 0, 0, 1, 0])
    predictions = np.array([0, 1, 2, 0, 0, 1, 1, 3])
    grouping = {("a", 0): 0, ("b", 0): 0, ("c", 0): 1}
    result = speaker_group_transferability(predictions, labels, speakers, {"g": grouping})
    (row,) = result.rows
    # cluster 0: 3/4 right, recalls 1, 1, 1, 0 -> UAR 0.75; cluster 1: 2/3 right, recalls 1/2, 1 -> UAR 0.75
    assert row["mean_accuracy"] == pytest.approx((3 / 4 + 2 / 3) / 2)
    assert row["weighted_accuracy"] == pytest.approx(5 / 7)
    assert row["mean_uar"] == pytest.approx(0.75)
    assert row["num_utterances"] == 7 and row["num_clusters"] == 2 and row["num_empty_clusters"] == 0
    assert [r["num_speakers"] for r in result.cluster_rows] == [2, 1]
    assert result.table() == [
        {"emotion": "neutral", "g": pytest.approx(100 * (3 / 4 + 2 / 3) / 2)},
        {"emotion": "mean", "g": pytest.approx(100 * (3 / 4 + 2 / 3) / 2)},
    ]


def test_emotion_specific_and_agnostic_groupings_differ_when_they_should():
    # Under emotion 0 the "good" speakers (a, b) form one cluster; the agnostic grouping mixes them with bad ones.
    speakers = np.array(["a", "b", "c", "d"] * 2)
    labels = np.zeros(8, dtype=int)
    predictions = np.array([0, 0, 1, 1] * 2)  # a, b always right; c, d always wrong
    with_emo = {("a", 0): 0, ("b", 0): 0, ("c", 0): 1, ("d", 0): 1}
    without_emo = {("a", 0): 0, ("c", 0): 0, ("b", 0): 1, ("d", 0): 1}
    result = speaker_group_transferability(predictions, labels, speakers, {"w/ Emo": with_emo, "w/o Emo": without_emo})
    rows = {r["grouping"]: r for r in result.rows}
    assert (rows["w/ Emo"]["min_accuracy"], rows["w/ Emo"]["max_accuracy"]) == (0.0, 1.0)
    assert (rows["w/o Emo"]["min_accuracy"], rows["w/o Emo"]["max_accuracy"]) == (0.5, 0.5)
    assert rows["w/ Emo"]["std_accuracy"] == pytest.approx(0.5) and rows["w/o Emo"]["std_accuracy"] == 0.0
    # and they agree when the partitions are the same
    same = speaker_group_transferability(predictions, labels, speakers, {"x": with_emo, "y": dict(with_emo)})
    assert same.rows[0]["std_accuracy"] == same.rows[1]["std_accuracy"]


def test_row_uses_the_emotion_graph_for_all_utterances_of_its_speakers():
    # a speaker's cluster comes from the row's graph, whatever the utterance's label
    speakers = np.array(["a", "a", "b", "b"])
    labels = np.array([0, 1, 0, 1])
    predictions = np.array([0, 1, 1, 0])  # a always right, b always wrong
    grouping = {("a", 0): 0, ("b", 0): 1, ("a", 1): 5, ("b", 1): 5}
    result = speaker_group_transferability(predictions, labels, speakers, {"w/ Emo": grouping})
    by_emotion = {r["emotion"]: r for r in result.rows}
    assert by_emotion["neutral"]["num_clusters"] == 2 and by_emotion["neutral"]["num_utterances"] == 4
    assert (by_emotion["neutral"]["min_accuracy"], by_emotion["neutral"]["max_accuracy"]) == (0.0, 1.0)
    assert by_emotion["happy"]["num_clusters"] == 1 and by_emotion["happy"]["mean_accuracy"] == 0.5


def test_list_and_callable_groupings_are_averaged_over_draws():
    predictions, labels, speakers, grouping = random_case(seed=1)
    draws = random_speaker_groupings(grouping, seeds=[0, 1, 2])
    assert len(draws) == 3 and draws[0] != draws[1]
    for draw in draws:  # same keys and same cluster sizes per emotion as the reference
        assert draw.keys() == grouping.keys()
        for e in (0, 1):
            sizes = sorted(np.unique([c for (s, emo), c in draw.items() if emo == e], return_counts=True)[1])
            ref = sorted(np.unique([c for (s, emo), c in grouping.items() if emo == e], return_counts=True)[1])
            assert sizes == ref
    from_list = speaker_group_transferability(predictions, labels, speakers, {"Rand": draws})
    from_callable = speaker_group_transferability(
        predictions, labels, speakers, {"Rand": lambda seed: draws[seed]}, seeds=[0, 1, 2]
    )
    singles = [speaker_group_transferability(predictions, labels, speakers, {"one": d}).rows for d in draws]
    for e in range(2):
        expected = np.mean([rows[e]["mean_accuracy"] for rows in singles])
        assert from_list.rows[e]["mean_accuracy"] == pytest.approx(expected)
        assert from_callable.rows[e]["mean_accuracy"] == pytest.approx(expected)
        assert from_list.rows[e]["num_draws"] == 3
        spread = np.std([rows[e]["mean_accuracy"] for rows in singles])
        assert from_list.rows[e]["draw_std_accuracy"] == pytest.approx(spread)


def test_random_utterance_baseline_keeps_sizes_and_averages_seeds():
    predictions, labels, speakers, grouping = random_case(seed=2)
    clusters, _ = utterance_clusters(speakers, {s: c for (s, e), c in grouping.items() if e == 1})
    shuffled = random_utterance_groups(clusters, seed=3)
    assert np.array_equal(shuffled < 0, clusters < 0)  # speaker 11 stays out of the pool
    assert sorted(np.bincount(shuffled[shuffled >= 0])) == sorted(np.bincount(clusters[clusters >= 0]))
    assert not np.array_equal(shuffled, clusters)
    result = speaker_group_transferability(
        predictions, labels, speakers, {"w/ Emo": grouping, "Rand": RANDOM_UTTERANCES}, seeds=[3, 4]
    )
    row = next(r for r in result.rows if r["grouping"] == "Rand" and r["emotion_id"] == 1)
    per_seed = []
    for seed in (3, 4):
        groups = random_utterance_groups(clusters, seed)
        accuracies = [(predictions[groups == k] == labels[groups == k]).mean() for k in np.unique(groups[groups >= 0])]
        per_seed.append(np.mean(accuracies))
    assert row["mean_accuracy"] == pytest.approx(np.mean(per_seed))
    assert row["num_draws"] == 2
    reference = next(r for r in result.rows if r["grouping"] == "w/ Emo" and r["emotion_id"] == 1)
    assert row["num_utterances"] == reference["num_utterances"]
    with pytest.raises(ValueError, match="reference"):
        speaker_group_transferability(predictions, labels, speakers, {"Rand": RANDOM_UTTERANCES}, emotions=[0])


def test_perfect_predictions_give_full_accuracy_for_every_grouping():
    predictions, labels, speakers, grouping = random_case(seed=3)
    flat = broadcast_grouping({s: 0 for s in range(12)}, [0, 1])
    groupings = {"w/ Emo": grouping, "Rand": RANDOM_UTTERANCES, "flat": flat}
    result = speaker_group_transferability(labels, labels, speakers, groupings)
    assert all(r["mean_accuracy"] == 1.0 and r["min_accuracy"] == 1.0 for r in result.rows)


def test_summaries_of_no_cluster_are_nan_not_errors():
    assert np.isnan(summarize_clusters([])["mean_accuracy"])
    result = speaker_group_transferability([0, 1], [0, 1], ["x", "y"], {"g": {("z", 0): 0}})
    assert np.isnan(result.rows[0]["mean_accuracy"]) and result.rows[0]["num_empty_clusters"] == 1
    assert json.loads(json.dumps(result.to_dict()))["rows"][0]["mean_accuracy"] is None


def test_cluster_scores_and_validation():
    rows = cluster_scores(np.array([1, 1, 0]), np.array([1, 0, 0]), np.array(["a", "b", "b"]), np.array([0, 1, 1]))
    assert [(r["cluster"], r["accuracy"], r["num_speakers"]) for r in rows] == [(0, 1.0, 1), (1, 0.5, 1)]
    with pytest.raises(ValueError, match="scope"):
        speaker_group_transferability([0], [0], ["a"], {"g": {("a", 0): 0}}, scope="some")
    with pytest.raises(ValueError, match="predictions"):
        speaker_group_transferability([0, 1], [0], ["a"], {"g": {("a", 0): 0}})
    with pytest.raises(ValueError, match="grouping"):
        speaker_group_transferability([0], [0], ["a"], {"g": "random"})


def planted_graph():
    rng = np.random.default_rng(0)
    embeddings, speakers, emotions = [], [], []
    for emotion in (0, 1):
        for s in range(12):
            group = s // 4 if emotion == 0 else s % 3
            for _ in range(2):
                embeddings.append(np.eye(5)[group] + 0.03 * rng.normal(size=5))
                speakers.append(f"s{s}")
                emotions.append(emotion)
    return SpeakerStyleGraph(tau=0.7, seed=0).fit(np.array(embeddings), np.array(speakers), np.array(emotions))


def test_speaker_graph_groupings_and_nearest_cluster_assignment(tmp_path):
    graph = planted_graph()
    groupings = groupings_from_speaker_graph(graph)
    assert groupings["Rand"] == RANDOM_UTTERANCES
    emotion, agnostic = groupings["w/ Emo"], groupings["w/o Emo"]
    assert emotion[("s0", 0)] == emotion[("s3", 0)] != emotion[("s4", 0)]  # s // 4 under emotion 0
    assert emotion[("s0", 1)] == emotion[("s3", 1)] != emotion[("s1", 1)]  # s % 3 under emotion 1
    # a new speaker close to direction 2: joins s8's cluster under emotion 0, s2's under emotion 1
    new = assign_speakers_to_clusters(graph, np.array([np.eye(5)[2], np.eye(5)[2]]), ["new", "new"])
    assert new[("new", 0)] == emotion[("s8", 0)] and new[("new", 1)] == emotion[("s2", 1)]
    assert all(new[key] == value for key, value in emotion.items())
    labelled = assign_speakers_to_clusters(graph, np.array([np.eye(5)[0]]), ["new"], emotion_ids=[1])
    assert ("new", 0) not in labelled and labelled[("new", 1)] == emotion[("s0", 1)]
    agnostic_new = assign_speakers_to_clusters(graph, np.array([np.eye(5)[2]]), ["new"], grouping="agnostic")
    assert agnostic_new[("new", 0)] in set(agnostic.values())
    with pytest.raises(ValueError, match="grouping"):
        assign_speakers_to_clusters(graph, np.eye(5)[:1], ["new"], grouping="random")

    rng = np.random.default_rng(1)
    speakers = rng.choice([f"s{s}" for s in range(12)], 200)
    labels = rng.integers(0, 4, 200)
    predictions = np.where(rng.random(200) < 0.7, labels, 0)
    result = speaker_group_transferability(predictions, labels, speakers, groupings)
    assert result.groupings == ["w/ Emo", "w/o Emo", "Rand"] and len(result.rows) == 6
    table = result.table()
    assert [row["emotion"] for row in table] == ["neutral", "happy", "mean"]
    assert all(0 <= row[g] <= 100 for row in table for g in result.groupings)
    written = read_table(result.save(tmp_path / "transferability.csv"))
    assert written[0]["mean_accuracy"] == pytest.approx(result.rows[0]["mean_accuracy"])
    assert json.loads(result.save(tmp_path / "t.json").read_text())[0]["grouping"] == "w/ Emo"
    path = plot_transferability(result, tmp_path / "transferability.png")
    assert path.read_bytes()[:8] == PNG_SIGNATURE
