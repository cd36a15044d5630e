"""SAPA speaker-style graphs: planted communities, modularity, edges, determinism, edge cases, plots and tables."""

import itertools
import logging

import networkx as nx
import numpy as np
import pytest

from hf_cser.analysis import (
    EMOTION_AGNOSTIC,
    SpeakerStyleGraph,
    build_similarity_graph,
    louvain_partition,
    read_table,
    similarity_edges,
)

NUM_GROUPS, PER_GROUP, UTTERANCES = 3, 10, 3
SPEAKERS = np.arange(NUM_GROUPS * PER_GROUP)
PLANTED = {frozenset(range(g * PER_GROUP, (g + 1) * PER_GROUP)) for g in range(NUM_GROUPS)}  # emotion 0: s // 10
PLANTED_OTHER = {frozenset(int(s) for s in SPEAKERS if s % NUM_GROUPS == g) for g in range(NUM_GROUPS)}  # emotion 1
CORPUS = {int(s): ("msp-podcast" if s % 2 == 0 else "biic-podcast") for s in SPEAKERS}


def planted_corpus(seed=0, same_style_for_both_emotions=False, noise=0.05, dim=6):
    """Utterance-level speaker embeddings around orthogonal directions; emotion 1 groups speakers differently."""
    rng = np.random.default_rng(seed)
    embeddings, speakers, emotions = [], [], []
    for emotion in (0, 1):
        for s in SPEAKERS:
            group = s // PER_GROUP if emotion == 0 or same_style_for_both_emotions else s % NUM_GROUPS
            for _ in range(UTTERANCES):
                embeddings.append(np.eye(dim)[group] + noise * rng.normal(size=dim))
                speakers.append(s)
                emotions.append(emotion)
    return np.array(embeddings), np.array(speakers), np.array(emotions)


@pytest.fixture(scope="module")
def fitted():
    embeddings, speakers, emotions = planted_corpus()
    return SpeakerStyleGraph(tau=0.7, seed=0).fit(embeddings, speakers, emotions, speaker_corpus=CORPUS)


def partition(communities):
    return {frozenset(c) for c in communities}


def test_communities_recover_the_planted_groups_per_emotion(fitted):
    assert partition(fitted.graphs[0].communities) == PLANTED
    assert partition(fitted.graphs[1].communities) == PLANTED_OTHER
    rows = {row["emotion"]: row for row in fitted.summary()}
    assert set(rows) == {"neutral", "happy", EMOTION_AGNOSTIC}
    assert rows["neutral"]["num_clusters"] == rows["happy"]["num_clusters"] == 3
    assert rows["neutral"]["num_speakers"] == 30
    # three cliques of 10 speakers: 3 * 45 edges
    assert rows["neutral"]["num_edges"] == 135


def numpy_modularity(graph, nodes, communities):
    adjacency = nx.to_numpy_array(graph, nodelist=nodes, weight="weight")
    degrees = adjacency.sum(axis=1)
    two_m = adjacency.sum()
    label = {node: k for k, c in enumerate(communities) for node in c}
    same = np.array([[label[a] == label[b] for b in nodes] for a in nodes])
    return float(((adjacency - np.outer(degrees, degrees) / two_m) * same).sum() / two_m)


def test_modularity_matches_networkx_and_numpy(fitted):
    for result in [*fitted.graphs.values(), fitted.agnostic_graph]:
        if result.graph.number_of_edges() == 0:
            continue
        expected = nx.community.modularity(result.graph, result.communities, weight="weight")
        assert result.modularity == pytest.approx(expected, abs=1e-12)
        assert result.modularity == pytest.approx(
            numpy_modularity(result.graph, result.speakers, result.communities), abs=1e-12
        )
    # three equal disjoint cliques: Q = 1 - 3 * (1/3)^2 = 2/3 (weights are all close to 1)
    assert fitted.graphs[0].modularity == pytest.approx(2 / 3, abs=1e-3)


@pytest.mark.parametrize("tau, block_size", [(0.7, 1024), (0.3, 7), (-0.2, 1), (0.0, 4)])
def test_edges_are_exactly_the_pairs_above_tau(tau, block_size):
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(23, 4))
    vectors[5] = 0.0  # a zero vector has no direction: no edge
    rows, cols, weights = similarity_edges(vectors, tau=tau, block_size=block_size)
    expected = {}
    for i, j in itertools.combinations(range(len(vectors)), 2):
        ni, nj = np.linalg.norm(vectors[i]), np.linalg.norm(vectors[j])
        if ni == 0 or nj == 0:
            continue
        cos = float(np.dot(vectors[i], vectors[j]) / (ni * nj))
        if cos > tau:
            expected[(i, j)] = cos
    got = {(int(i), int(j)): float(w) for i, j, w in zip(rows, cols, weights)}
    assert got.keys() == expected.keys()
    for key, cos in expected.items():
        assert got[key] == pytest.approx(cos, abs=1e-12)
    graph = build_similarity_graph(vectors, nodes=[f"spk{i}" for i in range(23)], tau=tau, block_size=block_size)
    assert graph.number_of_nodes() == 23 and graph.number_of_edges() == len(expected)


def test_seeded_and_reproducible():
    embeddings, speakers, emotions = planted_corpus(seed=3, noise=0.4)  # noisy: Louvain's order matters
    a = SpeakerStyleGraph(seed=5).fit(embeddings, speakers, emotions)
    b = SpeakerStyleGraph(seed=5).fit(embeddings, speakers, emotions)
    assert a.summary() == b.summary()
    for grouping in ("emotion", "agnostic", "random"):
        assert a.cluster_assignments(grouping) == b.cluster_assignments(grouping)
    assert [sorted(c) for c in a.graphs[0].communities] == [sorted(c) for c in b.graphs[0].communities]


def test_graph_without_edges_and_single_node(caplog):
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(8, 4))
    with caplog.at_level(logging.WARNING):
        graphs = SpeakerStyleGraph(tau=1.0).fit(embeddings, np.arange(8), np.zeros(8, dtype=int))
    result = graphs.graphs[0]
    assert result.graph.number_of_edges() == 0
    assert partition(result.communities) == {frozenset({s}) for s in range(8)}
    assert result.modularity == 0.0 and result.random_modularity == 0.0
    assert "8 speaker(s) and no edge" in caplog.text
    assert np.isfinite([row["modularity"] for row in graphs.summary()]).all()

    single = SpeakerStyleGraph().fit(embeddings[:3], ["spk"] * 3, [2, 2, 2])
    assert single.graphs[2].communities == [{"spk"}] and single.graphs[2].modularity == 0.0
    assert single.cluster_ids_for(["spk", "spk", "other"], [2, 0, 2]).tolist() == [0, -1, -1]


@pytest.mark.parametrize("tau", [1.5, -1.01, float("nan"), "0.7"])
def test_tau_is_validated(tau):
    with pytest.raises(ValueError, match="`tau`"):
        SpeakerStyleGraph(tau=tau)
    with pytest.raises(ValueError, match="`tau`"):
        similarity_edges(np.eye(3), tau=tau)


def test_input_validation():
    with pytest.raises(ValueError, match="`speaker_ids`"):
        SpeakerStyleGraph().fit(np.eye(3), [0, 1], [0, 0, 0])
    with pytest.raises(ValueError, match="`emotion_ids`"):
        SpeakerStyleGraph().fit(np.eye(3), [0, 1, 2], [0.5, 0, 0])
    with pytest.raises(RuntimeError, match="fit"):
        SpeakerStyleGraph().summary()
    with pytest.raises(ValueError, match="`grouping`"):
        SpeakerStyleGraph().fit(np.eye(3), [0, 1, 2], [0, 0, 0]).cluster_assignments("planted")


def test_emotion_agnostic_and_random_groupings(fitted):
    # emotion-agnostic graph: one node per speaker over all of its utterances
    assert sorted(fitted.agnostic_graph.speakers) == SPEAKERS.tolist()
    same_style = SpeakerStyleGraph().fit(*planted_corpus(same_style_for_both_emotions=True))
    assert partition(same_style.agnostic_graph.communities) == PLANTED

    # Rand: same number and sizes of groups as w/ Emo, a partition of the same speakers, not the planted one
    for result in fitted.graphs.values():
        assert sorted(map(len, result.random_communities)) == sorted(map(len, result.communities))
        assert set().union(*result.random_communities) == set(result.speakers)
        assert partition(result.random_communities) != partition(result.communities)
        assert result.random_modularity < result.modularity
    reseeded = SpeakerStyleGraph(seed=1).fit(*planted_corpus(), speaker_corpus=CORPUS)
    assert partition(reseeded.graphs[0].random_communities) != partition(fitted.graphs[0].random_communities)


def test_cluster_ids_for_the_triplet_losses(fitted):
    ids = fitted.cluster_assignments("emotion")
    # global ids: emotion 0 uses 0..2, emotion 1 uses 3..5; a speaker's id differs across emotions
    assert {ids[(s, 0)] for s in SPEAKERS.tolist()} == {0, 1, 2}
    assert {ids[(s, 1)] for s in SPEAKERS.tolist()} == {3, 4, 5}
    for group in PLANTED:
        assert len({ids[(s, 0)] for s in group}) == 1
    agnostic = fitted.cluster_assignments("agnostic")
    assert all(agnostic[(s, 0)] == agnostic[(s, 1)] for s in SPEAKERS.tolist())
    random_ids = fitted.cluster_assignments("random")
    assert {random_ids[(s, 1)] for s in SPEAKERS.tolist()} == {3, 4, 5}
    batch = fitted.cluster_ids_for([0, 10, 0, 99], [0, 0, 1, 0])
    assert batch.dtype == np.int64
    assert batch.tolist() == [ids[(0, 0)], ids[(10, 0)], ids[(0, 1)], -1]
    rows = fitted.assignments_table()
    assert len(rows) == 60 and rows[0]["corpus"] == "msp-podcast"


def test_plot_writes_png_per_emotion(fitted, tmp_path):
    paths = fitted.plot(tmp_path / "plots")
    assert [p.name for p in paths] == ["speaker_graph_neutral.png", "speaker_graph_happy.png"]
    spring = fitted.plot(tmp_path / "spring", emotions=[1], layout="spring", max_speakers_per_corpus=5)
    for path in [*paths, *spring]:
        data = path.read_bytes()
        assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="`layout`"):
        fitted.plot(tmp_path, layout="tsne")


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_summary_table_round_trips(fitted, tmp_path, suffix):
    path = fitted.save_summary(tmp_path / f"table1{suffix}")
    assert read_table(path) == fitted.summary()


def test_louvain_partition_orders_communities_deterministically():
    graph = nx.Graph()
    graph.add_weighted_edges_from([(0, 1, 1.0), (2, 3, 1.0), (3, 4, 1.0), (2, 4, 1.0)])
    communities, modularity = louvain_partition(graph, seed=0)
    assert communities == [{2, 3, 4}, {0, 1}]
    assert modularity == pytest.approx(nx.community.modularity(graph, communities))


def test_quantile_threshold_matches_numpy_on_all_pairs():
    from hf_cser.analysis.speaker_graph import quantile_threshold

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(7, 4))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = [unit[i] @ unit[j] for i in range(7) for j in range(i + 1, 7)]
    assert quantile_threshold(vectors, 0.5) == pytest.approx(np.median(sims))
    assert quantile_threshold(vectors, 0.0) == pytest.approx(min(sims))
    assert np.isnan(quantile_threshold(vectors[:1], 0.5))


def test_tau_quantile_recovers_groups_that_a_fixed_tau_merges():
    """Two groups that are all mutually above tau=0.7 (like synthetic voices): a fixed tau keeps every edge, a median
    threshold (55 %) keeps only within-group edges, recovers the planted groups and raises the modularity."""
    rng = np.random.default_rng(1)
    base = np.array([1.0, 0.0, 0.0])
    offsets = np.array([[0.0, 0.35, 0.0], [0.0, -0.35, 0.0]])
    vectors = np.concatenate([base + offsets[g] + 0.01 * rng.normal(size=(6, 3)) for g in (0, 1)])
    speakers = [f"s{i}" for i in range(12)]
    emotions = np.zeros(12, dtype=int)
    fixed = SpeakerStyleGraph(tau=0.7, seed=0).fit(vectors, speakers, emotions)
    assert fixed.summary()[0]["num_edges"] == 66 and fixed.summary()[0]["tau"] == 0.7
    adaptive = SpeakerStyleGraph(tau=0.7, seed=0, tau_quantile=0.55).fit(vectors, speakers, emotions)
    row = adaptive.summary()[0]
    assert row["num_clusters"] == 2 and row["tau"] > 0.7
    assert row["num_edges"] == 30  # the 2 x 15 within-group pairs: the 36 cross pairs are the least similar 55 %
    assert row["modularity"] > fixed.summary()[0]["modularity"]
    groups = sorted(sorted(c) for c in adaptive.graphs[0].communities)
    assert groups == sorted([sorted(speakers[:6]), sorted(speakers[6:])])
    with pytest.raises(ValueError, match="tau_quantile"):
        SpeakerStyleGraph(tau_quantile=1.5)


def dense_reference_edges(vectors, tau):
    """The pre-blocking computation: the whole N x N cosine matrix, strictly upper triangle, ``> tau``."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    sims = unit @ unit.T
    keep = np.triu(sims > tau, k=1)
    keep[norms[:, 0] == 0, :] = False
    keep[:, norms[:, 0] == 0] = False
    rows, cols = np.nonzero(keep)
    return rows, cols, sims[rows, cols]


@pytest.mark.parametrize(
    "num_nodes, block_size, tau", [(257, 64, 0.1), (300, 1, 0.3), (301, 100, -0.05), (50, 1024, 0.0)]
)
def test_blocked_upper_triangle_edges_equal_the_dense_computation(num_nodes, block_size, tau):
    rng = np.random.default_rng(num_nodes)
    vectors = rng.normal(size=(num_nodes, 8)) * rng.uniform(0.5, 3.0, size=(num_nodes, 1))
    vectors[[3, 17]] = 0.0
    rows, cols, weights = similarity_edges(vectors, tau=tau, block_size=block_size)
    ref_rows, ref_cols, ref_weights = dense_reference_edges(vectors, tau)
    # same edges in the same (row-major) order, so networkx adjacency order and hence Louvain are unchanged
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_array_equal(cols, ref_cols)
    np.testing.assert_allclose(weights, ref_weights, rtol=0, atol=1e-14)
    assert rows.dtype == cols.dtype == np.int64 and weights.dtype == np.float64
    # against a networkx graph built pair by pair
    expected = nx.Graph()
    expected.add_nodes_from(range(num_nodes))
    for i, j in itertools.combinations(range(num_nodes), 2):
        a, b = vectors[i], vectors[j]
        if np.linalg.norm(a) and np.linalg.norm(b):
            cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
            if cos > tau:
                expected.add_edge(i, j, weight=cos)
    graph = build_similarity_graph(vectors, tau=tau, block_size=block_size)
    assert nx.utils.edges_equal(graph.edges, expected.edges)
    assert list(graph.edges) == [(int(i), int(j)) for i, j in zip(ref_rows, ref_cols)]
    for u, v, w in expected.edges(data="weight"):
        assert graph[u][v]["weight"] == pytest.approx(w, abs=1e-12)


def test_similarity_edges_empty_and_single():
    for vectors in (np.zeros((0, 4)), np.ones((1, 4))):
        rows, cols, weights = similarity_edges(vectors, tau=0.5)
        assert len(rows) == len(cols) == len(weights) == 0


def test_louvain_on_the_blocked_graph_matches_the_dense_graph_and_is_reproducible():
    rng = np.random.default_rng(4)
    centres = rng.normal(size=(6, 16))
    vectors = centres[rng.integers(0, 6, size=240)] + 0.6 * rng.normal(size=(240, 16))
    rows, cols, weights = dense_reference_edges(vectors, 0.5)
    dense_graph = nx.Graph()
    dense_graph.add_nodes_from(range(240))
    dense_graph.add_weighted_edges_from(zip(rows.tolist(), cols.tolist(), weights.tolist()))
    graph = build_similarity_graph(vectors, tau=0.5, block_size=32)
    communities, modularity = louvain_partition(graph, seed=3)
    again, _ = louvain_partition(build_similarity_graph(vectors, tau=0.5, block_size=7), seed=3)
    expected = nx.community.louvain_communities(dense_graph, weight="weight", seed=3)
    assert partition(communities) == partition(again) == partition(expected)
    assert modularity == pytest.approx(nx.community.modularity(dense_graph, expected, weight="weight"), abs=1e-12)


def test_quantile_threshold_sampled_pairs_match_the_gathered_einsum():
    """The chunked scoring of sampled pairs gives exactly the previous all-at-once gather (same pairs, same floats)."""
    from hf_cser.analysis.speaker_graph import quantile_threshold

    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(120, 5))
    max_pairs = 3000  # fewer than the 7140 pairs: the sampled path, over several 1024-pair chunks
    sample = np.random.default_rng(7)
    i, j = sample.integers(0, 120, max_pairs), sample.integers(0, 120, max_pairs)
    i, j = i[i != j], j[i != j]
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    expected = float(np.quantile(np.einsum("ij,ij->i", unit[i], unit[j]), 0.8))
    assert quantile_threshold(vectors, 0.8, seed=7, max_pairs=max_pairs) == expected
    # all pairs (blocked products): the quantile of the dense upper triangle, whatever the block size
    sims = unit @ unit.T
    dense = float(np.quantile(sims[np.triu_indices(120, k=1)], 0.8))
    for block_size in (1, 17, 1024):
        assert quantile_threshold(vectors, 0.8, block_size=block_size) == pytest.approx(dense, abs=1e-14)
